"""Prometheus metrics of the daemon, in one registry owned by the daemon (not the global one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

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

    def exposition(self) -> bytes:
        """The text exposition format for GET /metrics."""
        return generate_latest(self.registry)
