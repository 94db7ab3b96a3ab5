"""Prometheus metrics of the daemon, in one registry owned by the daemon (not the global one)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["LoopLagProbe", "Metrics"]

# Pop latency is a few milliseconds when all is well; buckets resolve that and the slow tail.
_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.pops_sent = Counter("cti_pops_sent", "Pops sent to agents", registry=r)
        self.pop_latency = Histogram(
            "cti_pop_latency_seconds",
            "From the AMI event that rang the agent to the pop handed to the agent's sockets",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ami_events = Counter("cti_ami_events", "AMI events received", ["server"], registry=r)
        self.ami_reconnects = Counter(
            "cti_ami_reconnects", "AMI (re)connections after the first", ["server"], registry=r
        )
        self.ami_connected = Gauge("cti_ami_connected", "1 while logged in", ["server"], registry=r)
        self.active_calls = Gauge("cti_active_calls", "Calls being tracked", registry=r)
        self.outbox_depth = Gauge("cti_outbox_depth", "Call records not yet delivered", registry=r)
        self.outbox_stuck = Gauge(
            "cti_outbox_stuck", "Call records that keep failing to deliver", registry=r
        )
        self.records_delivered = Counter(
            "cti_records_delivered", "Call records delivered to a CRM", ["connector"], registry=r
        )
        self.agents_connected = Gauge(
            "cti_agents_connected", "Agents with at least one open websocket", registry=r
        )
        # Where a slow pop's time went: the loop running late, or the CRM answering late.
        self.event_loop_lag = Histogram(
            "cti_event_loop_lag_seconds",
            "How late the event loop ran a timer: what every callback waited behind",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.crm_lookup = Histogram(
            "cti_crm_lookup_seconds",
            "A pop's caller lookup, from asking the CRM to its answer on the event loop",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text exposition format for GET /metrics."""
        return generate_latest(self.registry)


class LoopLagProbe:
    """Sleep ``every_s`` again and again on the loop and record how late each wake-up came.

    A callback that holds the loop (a burst of events read at once, a slow template, the
    interpreter lock held by another thread) delays every other one by as much: this is that
    delay, sampled 50 times a second at a cost too small to measure.
    """

    def __init__(self, histogram: Histogram, every_s: float = 0.02) -> None:
        self._histogram = histogram
        self._every = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._every
            await asyncio.sleep(self._every)
            self._histogram.observe(max(0.0, loop.time() - due))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
