"""Recorded lab calls as templates that make any number of distinct calls.

Each transcript in ``tests/fixtures/ami`` is one real call as the lab Asterisk 22 told it over
AMI. :class:`CallScript` replays it as call ``n``: every uniqueid, linkedid and bridge id is
renamed for that call, channel suffixes are renumbered, the agent phones ``PJSIP/1001`` and
``PJSIP/1002`` become the endpoints the benchmark chose, and the caller's number becomes one
the benchmark's CRM knows. Times between events are kept, each gap capped, so a run stays short.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cti.config import repo_root
from pbx_adapters.replay import read_recording

__all__ = [
    "AGENT_PHONES",
    "INBOUND_SCRIPTS",
    "CallScript",
    "ScriptedFrame",
    "load_scripts",
    "wire",
]

FIXTURES = repo_root() / "tests" / "fixtures" / "ami"
AGENT_PHONES = ("PJSIP/1001", "PJSIP/1002")  # the lab phones the transcripts were recorded on
RECORDED_CALLER = "+442079460001"  # every inbound transcript's caller (Ada Lovelace)
# The inbound calls: each pops at least one agent. (click_to_dial is an agent's own call.)
INBOUND_SCRIPTS = (
    "direct_answered",
    "queue_ringall_second_answers",
    "busy",
    "direct_not_answered",
    "queue_abandoned",
    "blind_transfer",
    "attended_transfer",
)
_SUFFIX = re.compile(r"-([0-9a-f]{8})\b")
_ID_KEYS = ("Uniqueid", "Linkedid")
_NOISE = frozenset({"FullyBooted"})


@dataclass(frozen=True, slots=True)
class ScriptedFrame:
    """One frame of a made-up call: seconds after the call's first frame, and the pairs."""

    offset: float
    pairs: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return self.pairs[0][1] if self.pairs else ""


class CallScript:
    """One recorded call, ready to be played as any number of distinct calls."""

    def __init__(self, name: str, frames: Sequence[tuple[float, tuple[tuple[str, str], ...]]]):
        self.name = name
        self._frames = frames
        ids: dict[str, int] = {}
        suffixes: dict[str, int] = {}
        for _, pairs in frames:
            for key, value in pairs:
                if key.endswith(_ID_KEYS) and value and value not in ids:
                    ids[value] = len(ids)
                for found in _SUFFIX.findall(value):
                    suffixes.setdefault(found, len(suffixes))
        self._ids = ids
        self._suffixes = suffixes

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def duration(self) -> float:
        return self._frames[-1][0] if self._frames else 0.0

    def play(
        self,
        call: int,
        *,
        phones: Sequence[str] = AGENT_PHONES,
        caller: str = RECORDED_CALLER,
        max_gap_s: float = 1.0,
        epoch: int = 1_700_000_000,
    ) -> Iterator[ScriptedFrame]:
        """Yield call number ``call`` (>= 0) with its own ids, ``phones`` and ``caller``."""
        ids = {old: f"{epoch + call}.{index}" for old, index in self._ids.items()}
        base = call * len(self._suffixes) if self._suffixes else 0
        suffixes = {
            old: f"-{(base + index) % 0xFFFFFFFF:08x}" for old, index in self._suffixes.items()
        }
        swaps = [(old, new) for old, new in zip(AGENT_PHONES, phones, strict=False) if old != new]
        offset = 0.0
        previous = self._frames[0][0] if self._frames else 0.0
        for at, pairs in self._frames:
            offset += min(max_gap_s, max(0.0, at - previous))
            previous = at
            out = []
            for key, raw in pairs:
                value = raw
                if key.endswith(_ID_KEYS):
                    value = ids.get(value, value)
                elif "-" in value and "/" in value:
                    value = _SUFFIX.sub(lambda m: suffixes.get(m.group(1), m.group(0)), value)
                if "PJSIP/100" in value:
                    for old, new in swaps:
                        value = value.replace(old, new)
                elif value == RECORDED_CALLER:
                    value = caller
                out.append((key, value))
            yield ScriptedFrame(offset, tuple(out))


def load_scripts(
    names: Sequence[str] = INBOUND_SCRIPTS, directory: Path = FIXTURES
) -> list[CallScript]:
    """Load the named transcripts (without the session noise around the call) as scripts."""
    scripts = []
    for name in names:
        frames = [
            (item.t, tuple(item.frame))
            for item in read_recording(directory / f"{name}.jsonl")
            if item.frame.name not in _NOISE
        ]
        scripts.append(CallScript(name, frames))
    return scripts


def wire(pairs: Sequence[tuple[str, str]]) -> bytes:
    """Return one AMI message as Asterisk writes it (CRLF lines, an empty line at the end)."""
    return ("".join(f"{key}: {value}\r\n" for key, value in pairs) + "\r\n").encode()
