"""The admin console's Prometheus metrics, on the daemon's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["AdminMetrics"]


class AdminMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["server", "trunk"]
        self.trunk_reachable = Gauge(
            "cti_trunk_reachable",
            "1 while a contact of the trunk answers qualify, 0 when none does",
            labels,
            registry=registry,
        )
        self.trunk_rtt = Gauge(
            "cti_trunk_rtt_seconds", "Qualify round trip of the trunk", labels, registry=registry
        )
        self.trunk_calls = Gauge(
            "cti_trunk_calls", "Calls in progress on the trunk", labels, registry=registry
        )
        self.trunk_events = Counter(
            "cti_trunk_events",
            "Trunk events (unreachable, back, registration lost, registered)",
            [*labels, "kind"],
            registry=registry,
        )
        self.ami_events_per_second = Gauge(
            "cti_ami_events_per_second", "AMI events per second", ["server"], registry=registry
        )
        self.ami_resyncs = Gauge(
            "cti_ami_resyncs", "Resyncs after AMI logins", ["server"], registry=registry
        )
