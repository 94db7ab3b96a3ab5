"""Drill: 100,000 malformed AMI frames interleaved with valid ones, over a real TCP socket.

A fake Asterisk on 127.0.0.1 logs the product's :class:`AsteriskSource` in (banner, Login,
an empty ``CoreShowChannels``) and then writes one stream: recorded lab calls (valid frames)
with malformed frames between them, in turns of seven kinds: a line without a colon, a 64 KiB
line (one frame in 500), invalid UTF-8, a lone CR inside a header, a frame cut short (a known
event missing its channel), a flood of 600 duplicate headers, and unknown events. What must
hold: the connection never drops, the valid events come out exactly as the same frames give
alone, in order, and the process's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

from cti.core.events import PbxEvent
from pbx_adapters.asterisk.connection import AmiSettings
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.normalize import Normalizer
from pbx_adapters.asterisk.source import AsteriskSource
from sip_tests.bench.stream import CallPlan, timeline
from sip_tests.bench.transcripts import load_scripts, wire

__all__ = ["MalformedResult", "malformed_frames", "run_malformed"]

_BIG = b"X-Junk: " + b"a" * (64 * 1024 + 16) + b"\r\n"


def malformed_frames() -> Iterator[bytes]:
    """Yield malformed AMI messages forever, kind after kind."""
    n = 0
    while True:
        n += 1
        kind = n % 7
        if kind == 0:
            yield b"this line has no colon at all\r\nnor this one\r\n\r\n"
        elif kind == 1:
            yield (_BIG + b"\r\n") if n % 500 == 1 else b"no colon either\r\n\r\n"
        elif kind == 2:
            yield b"Event: Bogus\xff\xfe\xc3(\r\nChannel: \xe2\x82\r\n\r\n"
        elif kind == 3:
            yield b"Event: Newstate\rUniqueid: 1.1\rChannel: PJSIP/x-00000001\r\n\r\n"
        elif kind == 4:
            yield b"Event: Newchannel\r\nChannel: PJSIP/1001-0000\r\n\r\n"
        elif kind == 5:
            yield b"Event: QueueMemberStatus\r\n" + b"Queue: flood\r\n" * 600 + b"\r\n"
        else:
            yield f"Event: NoSuchEvent{n % 13}\r\nFoo: bar\r\n\r\n".encode()


@dataclass(frozen=True, slots=True)
class MalformedResult:
    malformed: int
    valid_frames: int
    expected_events: int
    delivered_events: int
    in_order: bool
    connects: int
    disconnects: int
    sink_errors: int
    max_rss_growth_kib: int
    seconds: float


def _valid_frames(calls: int) -> list[bytes]:
    def plan(call: int) -> CallPlan:
        return CallPlan(("PJSIP/1001", "PJSIP/1002"), f"+44203{call:07d}")

    items = timeline(load_scripts(), calls=calls, rate_per_s=50.0, plan=plan)
    return [wire(item.frame.pairs) for item in items]


async def _serve(
    stream: list[bytes], done: asyncio.Event, finished: asyncio.Event
) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        while True:
            raw = await reader.readuntil(b"\r\n\r\n")
            text = raw.decode()
            action_id = next(
                (line[10:] for line in text.split("\r\n") if line.startswith("ActionID: ")), ""
            )
            if "Action: Login" in text:
                writer.write(f"Response: Success\r\nActionID: {action_id}\r\n\r\n".encode())
            elif "Action: CoreShowChannels" in text:
                writer.write(
                    f"Response: Success\r\nActionID: {action_id}\r\nEventList: start\r\n\r\n"
                    f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\n"
                    "EventList: Complete\r\nListItems: 0\r\n\r\n".encode()
                )
                break
        for start in range(0, len(stream), 64):
            writer.write(b"".join(stream[start : start + 64]))
            await writer.drain()
        done.set()
        try:
            await reader.read()  # hold the connection until the client leaves
        finally:
            writer.close()
            finished.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def run_malformed(malformed: int = 100_000, calls: int = 300) -> MalformedResult:
    """Run the drill; return what came out."""
    valid = _valid_frames(calls)
    expected = [
        e
        for e in (Normalizer("drill").event(_frame_of(raw), 0.0) for raw in valid)
        if e is not None
    ]
    bad = malformed_frames()
    every = max(1, malformed // max(1, len(valid)))
    stream: list[bytes] = []
    sent_bad = 0
    for raw in valid:
        for _ in range(every):
            if sent_bad < malformed:
                stream.append(next(bad))
                sent_bad += 1
        stream.append(raw)
    while sent_bad < malformed:
        stream.append(next(bad))
        sent_bad += 1
    got: list[PbxEvent] = []
    done, finished = asyncio.Event(), asyncio.Event()
    server, port = await _serve(stream, done, finished)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    source = AsteriskSource("drill", AmiSettings(host="127.0.0.1", port=port), got.append)
    try:
        await source.start()
        await asyncio.wait_for(done.wait(), timeout=600)
        deadline = time.monotonic() + 60
        while len(got) < len(expected) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    finally:
        stats = source.connection.stats
        connects, disconnects = stats.connects, stats.disconnects
        await source.close()
        server.close()
        await asyncio.wait_for(finished.wait(), timeout=10)
        await server.wait_closed()
    events = [e for e in got if type(e).__name__ != "ChannelsListed"]
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return MalformedResult(
        malformed=sent_bad,
        valid_frames=len(valid),
        expected_events=len(expected),
        delivered_events=len(events),
        in_order=[_without_time(e) for e in events] == [_without_time(e) for e in expected],
        connects=connects,
        disconnects=disconnects,
        sink_errors=stats.sink_errors,
        max_rss_growth_kib=rss_after - rss_before,
        seconds=round(time.monotonic() - started, 1),
    )


def _frame_of(raw: bytes) -> AmiFrame:
    lines = raw.decode().split("\r\n")
    return AmiFrame.from_pairs(tuple(line.split(": ", 1)) for line in lines if ": " in line)


def _without_time(event: PbxEvent) -> tuple[str, str]:
    # ``at`` falls back to the arrival time for frames without a Timestamp: compare the rest.
    return type(event).__name__, repr(event).split(", at=", 1)[0]
