"""Load the recorded lab transcripts (tests/fixtures/ami) and run them through the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from cti.core.events import PbxEvent
from cti.core.tracker import CallTracker
from cti.core.updates import CallUpdate
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.framer import AmiFramer
from pbx_adapters.asterisk.normalize import Normalizer
from pbx_adapters.replay import read_recording

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frames(name: str) -> list[AmiFrame]:
    return [item.frame for item in read_recording(FIXTURES / f"{name}.jsonl")]


def wire(name: str) -> bytes:
    """The transcript as Asterisk sent it on the socket, banner first."""
    out = [BANNER]
    for frame in frames(name):
        out.append("".join(f"{k}: {v}\r\n" for k, v in frame).encode() + b"\r\n")
    return b"".join(out)


def is_agent(endpoint: str) -> bool:
    """The lab's agent phones are PJSIP/1001-1010; everything else is the trunk."""
    return endpoint.startswith("PJSIP/10")


def events_of(frame_list: Iterable[AmiFrame]) -> list[PbxEvent]:
    normalizer = Normalizer("lab")
    out = []
    for frame in frame_list:
        event = normalizer.event(frame, 0.0)
        if event is not None:
            out.append(event)
    return out


def updates_of(frame_list: Iterable[AmiFrame]) -> tuple[list[CallUpdate], CallTracker]:
    tracker = CallTracker(is_agent)
    return tracker.feed_all(events_of(frame_list)), tracker


def chunked(data: bytes, cuts: Iterable[int]) -> list[AmiFrame]:
    """Feed ``data`` to a fresh framer split at ``cuts``; return the frames it produced."""
    framer = AmiFramer()
    out: list[AmiFrame] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += framer.feed(data[start:cut])
        start = cut
    out += framer.feed(data[start:])
    return out


async def replay_paced(
    name: str, handle: Callable[[CallUpdate], None], *, speed: float = 4.0
) -> None:
    """Replay a transcript through normalizer and tracker at ``speed`` times its recorded pace."""
    normalizer, tracker = Normalizer("lab"), CallTracker(is_agent)
    previous = None
    for item in read_recording(FIXTURES / f"{name}.jsonl"):
        if previous is not None:
            await asyncio.sleep(max(0.0, item.t - previous) / speed)
        previous = item.t
        event = normalizer.event(item.frame, 0.0)
        if event is not None:
            for update in tracker.feed(event):
                handle(update)
