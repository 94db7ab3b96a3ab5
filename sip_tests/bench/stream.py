"""A timeline of many overlapping calls made from the recorded transcripts.

Calls start at a steady rate, each playing one transcript (in turn) with its recorded gaps, so
at any moment many calls are live, as on a busy PBX. :func:`timeline` yields the frames of all
of them in the order Asterisk would send them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sip_tests.bench.transcripts import CallScript, ScriptedFrame

__all__ = ["CallPlan", "TimedFrame", "timeline"]


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Who a made-up call rings and who calls: chosen per call by the benchmark."""

    phones: tuple[str, str]
    caller: str


@dataclass(frozen=True, slots=True)
class TimedFrame:
    at: float  # seconds after the first call started
    call: int
    frame: ScriptedFrame


def timeline(
    scripts: Sequence[CallScript],
    *,
    calls: int,
    rate_per_s: float,
    plan: Callable[[int], CallPlan],
    max_gap_s: float = 1.0,
    first_call: int = 0,
) -> Iterator[TimedFrame]:
    """Yield the frames of ``calls`` calls started ``rate_per_s`` a second, in time order."""

    def one(call: int) -> Iterator[TimedFrame]:
        start = (call - first_call) / rate_per_s
        chosen = plan(call)
        script = scripts[call % len(scripts)]
        for frame in script.play(
            call, phones=chosen.phones, caller=chosen.caller, max_gap_s=max_gap_s
        ):
            yield TimedFrame(start + frame.offset, call, frame)

    streams = [one(call) for call in range(first_call, first_call + calls)]
    yield from heapq.merge(*streams, key=lambda item: (item.at, item.call))
