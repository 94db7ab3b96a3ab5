"""The daemon's own view of a benchmark phase, read from its ``/metrics`` while it runs.

Three histograms tell where a slow pop's time went: how late the event loop ran its timers
(``cti_event_loop_lag_seconds``), how long the CRM took to answer a pop's lookup
(``cti_crm_lookup_seconds``), and how long after Asterisk stamped the ring the pop service had
it (``cti_pop_latency_seconds``). The bench scrapes them about once a second; a phase's figures
are the differences between the scrapes around it. Histograms give bucket bounds, not exact
times: "p99 <= 20 ms" means the 99th percentile fell in the bucket that ends at 20 ms.
"""

from __future__ import annotations

import math
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["HISTOGRAMS", "Scrape", "histograms", "phase_quantile", "scrape"]

HISTOGRAMS = {
    "cti_event_loop_lag_seconds": "event loop lag",
    "cti_crm_lookup_seconds": "CRM lookup",
    "cti_pop_latency_seconds": "ring to pop service",
}
# (monotonic time, histogram name -> {upper bound in seconds: cumulative count})
Scrape = tuple[float, dict[str, dict[float, float]]]


def scrape(base_url: str, at: float) -> Scrape | None:
    """The histograms now, or None when the daemon did not answer within a second."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=1.0) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    return at, histograms(text)


def histograms(text: str) -> dict[str, dict[float, float]]:
    """The cumulative bucket counts of :data:`HISTOGRAMS` in a text exposition."""
    found: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name in HISTOGRAMS:
            found[family.name] = {
                float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")
            }
    return found


def phase_quantile(
    scrapes: list[Scrape], name: str, start: float, end: float, q: float
) -> tuple[float, int] | None:
    """The upper bound (seconds) of the bucket holding quantile ``q`` of what ``name`` saw
    between ``start`` and ``end``, and how many it saw; None without scrapes around the phase."""
    before = [s for s in scrapes if s[0] <= start and name in s[1]]
    after = [s for s in scrapes if s[0] >= end and name in s[1]]
    if not before or not after:
        return None
    first, last = before[-1][1][name], after[0][1][name]
    counts = {le: last[le] - first.get(le, 0.0) for le in sorted(last)}
    total = counts.get(math.inf, 0.0)
    if total <= 0:
        return None
    for le, cumulative in counts.items():
        if cumulative >= q * total:
            return le, int(total)
    return math.inf, int(total)
