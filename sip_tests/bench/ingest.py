"""AMI ingest: events a second per core through framer, normalizer and call tracker.

The same byte stream (recorded lab calls, many at once, as Asterisk writes them) goes through
the product's read path and through stock panoramisk (its ``AMIProtocol`` feeding a ``Manager``
with one ``'*'`` handler that does nothing), in the same process, in turns. CPU time
(``time.process_time``) is what counts, so other work on the machine costs little accuracy.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from cti.core.tracker import CallTracker
from pbx_adapters.asterisk.connection import stock_panoramisk_reader
from pbx_adapters.asterisk.framer import AmiFramer
from pbx_adapters.asterisk.normalize import Normalizer
from sip_tests.bench.results import Report
from sip_tests.bench.stream import CallPlan, timeline
from sip_tests.bench.transcripts import load_scripts, wire

__all__ = ["build_stream", "run_ingest"]

_READ = 65_536  # what asyncio hands the protocol per read under load (at most 256 KiB)
_BANNER = b"Asterisk Call Manager/9.0.0\r\n"
_EPOCH_US = 1_800_000_000 * 1_000_000


def _stamped(pairs: tuple[tuple[str, str], ...], stamp: str) -> list[tuple[str, str]]:
    """Return ``pairs`` with the ``Timestamp`` header set to ``stamp``."""
    return [(key, stamp if key == "Timestamp" else value) for key, value in pairs]


def build_stream(calls: int, rate_per_s: float = 100.0) -> tuple[list[bytes], int]:
    """Return the stream cut in socket-sized reads, and how many events it holds."""
    scripts = load_scripts()
    agents = 1000

    def plan(call: int) -> CallPlan:
        a, b = (2 * call) % agents, (2 * call + 1) % agents
        return CallPlan((f"PJSIP/b{a:04d}", f"PJSIP/b{b:04d}"), f"+44203{call % 100_000:07d}")

    parts = [_BANNER]
    events = 0
    last_us = 0
    for item in timeline(scripts, calls=calls, rate_per_s=rate_per_s, plan=plan):
        # Asterisk stamps every event with its own time (microseconds); the transcripts hold
        # the times they were recorded at, the same for every call made from one of them.
        last_us = max(_EPOCH_US + round(item.at * 1e6), last_us + 1)
        stamp = f"{last_us // 1_000_000}.{last_us % 1_000_000:06d}"
        parts.append(wire(_stamped(item.frame.pairs, stamp)))
        events += 1
    data = b"".join(parts)
    return [data[i : i + _READ] for i in range(0, len(data), _READ)], events


def _product(reads: list[bytes]) -> int:
    """The daemon's read path: framer -> event check -> normalizer -> tracker."""
    framer = AmiFramer()
    normalizer = Normalizer("bench")
    tracker = CallTracker(lambda endpoint: endpoint.startswith("PJSIP/b"))
    event, feed = normalizer.event, tracker.feed
    updates = 0
    for read in reads:
        for start in range(0, len(read), 8192):
            for frame in framer.feed(read[start : start + 8192]):
                if frame.is_event:
                    normalized = event(frame, 0.0)
                    if normalized is not None:
                        updates += len(feed(normalized))
    return updates


def _panoramisk(reads: list[bytes]) -> int:
    """Stock panoramisk: AMIProtocol -> Message -> Manager.dispatch -> a '*' handler."""
    seen = [0]

    def handler(message: object) -> None:
        seen[0] += 1

    feed = stock_panoramisk_reader(handler)
    for read in reads:
        feed(read)
    return seen[0]


def _cpu_seconds(run: Callable[[list[bytes]], int], reads: list[bytes], repeat: int) -> float:
    """Return the best CPU time of ``repeat`` runs (the least disturbed one)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        run(reads)
        best = min(best, time.process_time() - started)
    return best


def run_ingest(*, quick: bool) -> Report:
    """Measure both read paths on the same stream; return the report."""
    calls = 1000 if quick else 5000
    reads, events = build_stream(calls)
    repeat = 3 if quick else 5
    report = Report("ingest", quick)
    ours = _cpu_seconds(_product, reads, repeat)
    stock = _cpu_seconds(_panoramisk, reads, repeat)
    ours_rate, stock_rate = events / ours, events / stock
    report.details.update(
        calls=calls,
        events=events,
        bytes=sum(len(r) for r in reads),
        product_cpu_s=ours,
        panoramisk_cpu_s=stock,
    )
    report.add(
        "product events/s per core",
        ours_rate,
        "ev/s",
        target=">= 50,000",
        ok=ours_rate >= 50_000,
    )
    report.add(
        "vs panoramisk '*' handler",
        ours_rate,
        "ev/s",
        floor=stock_rate,
        target=">= 1.5x",
        ok=ours_rate >= 1.5 * stock_rate,
    )
    report.add("CPU per event (read path)", ours / events * 1e6, "us")
    return report
