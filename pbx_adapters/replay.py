"""Read recorded AMI sessions back and feed them to the same sink a live connection feeds.

A recording is the JSON-lines file :mod:`pbx_adapters.recorder` writes (the fixtures in
``tests/fixtures/ami/*.jsonl`` are such files). :func:`read_recording` yields its frames;
:class:`ReplaySource` plays them into ``on_frame(frame, received_at)`` as fast as possible or at
the recorded pace.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cti.errors import AmiProtocolError
from pbx_adapters.asterisk.frame import AmiFrame, FrameSink

__all__ = ["RecordedFrame", "ReplaySource", "parse_lines", "read_recording"]

_YIELD_EVERY = 1000  # frames fed between two event-loop turns when playing flat out


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One line of a recording."""

    t: float
    server: str
    frame: AmiFrame


def read_recording(path: str | Path) -> Iterator[RecordedFrame]:
    """Yield the frames of a recording in file order; raise ``AmiProtocolError`` on a bad line."""
    with Path(path).open(encoding="utf-8") as stream:
        yield from parse_lines(stream, source=str(path))


def parse_lines(lines: Iterable[str], *, source: str = "<recording>") -> Iterator[RecordedFrame]:
    """Yield the frames of recording lines; blank lines are skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            recorded = RecordedFrame(
                t=float(item["t"]),
                server=str(item["server"]),
                frame=AmiFrame.from_pairs(item["frame"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AmiProtocolError(
                f"{source}:{number}: not a recorded AMI frame ({exc})",
                details={"source": source, "line": number},
            ) from exc
        yield recorded


class ReplaySource:
    """Play recorded frames into a sink, in order, with their recorded times.

    ``speed`` None plays as fast as possible; otherwise the gaps between frames are slept,
    divided by ``speed`` (2.0 plays twice as fast). ``received_at`` passed to the sink is the
    recorded ``t`` plus ``clock_offset``.
    """

    def __init__(
        self,
        frames: Iterable[RecordedFrame],
        *,
        speed: float | None = None,
        clock_offset: float = 0.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("replay speed must be positive")
        self._frames = frames
        self._speed = speed
        self._offset = clock_offset
        self._sleep = sleep

    @classmethod
    def from_file(
        cls, path: str | Path, *, speed: float | None = None, clock_offset: float = 0.0
    ) -> ReplaySource:
        """Return a source over a recording file (read lazily as it plays)."""
        return cls(read_recording(path), speed=speed, clock_offset=clock_offset)

    def play_sync(self, on_frame: FrameSink, *, server: str | None = None) -> int:
        """Feed every frame (only ``server``'s, if given) at once; return how many."""
        count = 0
        for recorded in self._frames:
            if server is None or recorded.server == server:
                on_frame(recorded.frame, recorded.t + self._offset)
                count += 1
        return count

    async def play(self, on_frame: FrameSink, *, server: str | None = None) -> int:
        """Feed every frame (only ``server``'s, if given), at recorded pace if a speed was set."""
        count = 0
        previous: float | None = None
        for recorded in self._frames:
            if server is not None and recorded.server != server:
                continue
            if self._speed is None:
                if count % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let the loop breathe between batches
            elif previous is not None and recorded.t > previous:
                await self._sleep((recorded.t - previous) / self._speed)
            previous = recorded.t
            on_frame(recorded.frame, recorded.t + self._offset)
            count += 1
        return count
