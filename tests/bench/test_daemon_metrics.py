"""The pop bench's reading of the daemon's /metrics: a phase's quantile from two scrapes."""

from __future__ import annotations

import math

from cti.metrics import Metrics
from sip_tests.bench.daemon_metrics import histograms, phase_quantile


def test_a_phase_is_the_difference_between_the_scrapes_around_it() -> None:
    metrics = Metrics()
    for _ in range(500):  # before the phase: fast lookups only
        metrics.crm_lookup.observe(0.0004)
    before = (10.0, histograms(metrics.exposition().decode()))
    for _ in range(98):  # the phase: 98 fast, 2 slow ones (the p99 is among the slow)
        metrics.crm_lookup.observe(0.0008)
    metrics.crm_lookup.observe(0.015)
    metrics.crm_lookup.observe(0.3)
    after = (20.0, histograms(metrics.exposition().decode()))
    scrapes = [before, after]

    assert phase_quantile(scrapes, "cti_crm_lookup_seconds", 11.0, 19.0, 0.5) == (0.001, 100)
    assert phase_quantile(scrapes, "cti_crm_lookup_seconds", 11.0, 19.0, 0.99) == (0.02, 100)
    assert phase_quantile(scrapes, "cti_crm_lookup_seconds", 11.0, 19.0, 1.0) == (0.5, 100)
    assert (
        phase_quantile(scrapes, "cti_crm_lookup_seconds", 5.0, 19.0, 0.5) is None
    )  # no scrape before
    metrics.crm_lookup.observe(9.0)  # past the last bucket
    late = [after, (30.0, histograms(metrics.exposition().decode()))]
    assert phase_quantile(late, "cti_crm_lookup_seconds", 21.0, 29.0, 0.5) == (math.inf, 1)
