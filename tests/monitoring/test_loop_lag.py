"""The event loop's lag as /metrics shows it: a callback holding the loop is seen as lag."""

from __future__ import annotations

import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families

from cti.metrics import LoopLagProbe, Metrics


def _lag_buckets(metrics: Metrics) -> dict[str, float]:
    """``le`` -> cumulative count of ``cti_event_loop_lag_seconds``."""
    text = metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "cti_event_loop_lag_seconds":
            return {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    raise AssertionError("no cti_event_loop_lag_seconds in /metrics")


async def test_a_callback_holding_the_loop_shows_as_lag_and_an_idle_loop_does_not() -> None:
    metrics = Metrics()
    probe = LoopLagProbe(metrics.event_loop_lag, every_s=0.01)
    probe.start()
    await asyncio.sleep(0.2)  # idle: every wake-up on time, give or take the host
    idle = _lag_buckets(metrics)
    assert idle["+Inf"] >= 5
    time.sleep(0.15)  # noqa: ASYNC251 (the point: a callback that blocks the loop)
    await asyncio.sleep(0.05)
    await probe.close()
    held = _lag_buckets(metrics)
    late = (held["+Inf"] - held["0.1"]) - (idle["+Inf"] - idle["0.1"])
    assert late >= 1  # the wake-up due during the 0.15 s block came over 0.1 s late
