"""Reports read while the pop bench plays calls (``cti bench pop --with-reports``).

:func:`report_load` gives a bench site's store a year of calls and their report buckets, as
``cti bench reports`` seeds them (:func:`seed_buckets` is the one caller of that bench's
seeding, so a new seeding is one change here), and returns what a reader process
(:mod:`sip_tests.bench.report_reader`) needs: the site admin's session and the reports to ask
for, a month by day of every queue, group and agent (the seeding's keys: ``q00``, ``group0``,
``agent000``, ...). The daemon is given the seeding's time zone as the site's, so those reports
read the day buckets, as a site's own supervisors' do. :func:`read_figures` turns the reader's
requests into figures per phase of the replay, :func:`add_read_rows` prints them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cti.store import Store
from sip_tests.bench import reports
from sip_tests.bench.results import Report, percentile
from sip_tests.bench.site import Site

__all__ = [
    "ReportLoad",
    "add_read_rows",
    "read_figures",
    "report_load",
    "seed_buckets",
]


@dataclass(frozen=True, slots=True)
class ReportLoad:
    """What reading reports on a seeded site takes: a session that may, and what to ask."""

    cookie: str
    time_zone: str  # the buckets' days are this zone's
    cases: tuple[tuple[str, dict[str, str]], ...]
    worker: str | None = None  # the daemon's [reports] worker ("process", "inline"); None: default

    def daemon_env(self) -> dict[str, str]:
        """The daemon's settings for this site: its days are the buckets' days."""
        env = {"CTI_REPORTS__TIME_ZONE": self.time_zone}
        if self.worker is not None:
            env["CTI_REPORTS__WORKER"] = self.worker
        return env

    def reader_config(
        self, base_url: str, work: Path, loops: int, stop_files: Sequence[Path]
    ) -> dict[str, Any]:
        """The config of a reader process (:mod:`sip_tests.bench.report_reader`) in ``work``."""
        return {
            "base_url": base_url,
            "cookie": self.cookie,
            "cases": [list(case) for case in self.cases],
            "loops": loops,
            "ready_file": str(work / "reader-ready"),
            "go_file": str(work / "go"),
            "stop_files": [str(p) for p in stop_files],
            "out_file": str(work / "reads.jsonl"),
            "lifetime_s": 900,
        }


def seed_buckets(site: Site, plan: reports.Plan) -> dict[str, float]:
    """Write ``plan``'s calls, their report buckets and the report groups into ``site``'s store
    (with the report bench's seeding as it stands; the CRM's tables are there too); return how
    many bucket rows and calls, and how long it took."""
    store = Store(site.store_url)
    try:
        started = time.perf_counter()
        reports.seed_calls({"site": store}, plan, datetime.now(reports.TZ).date())
        reports.add_groups(store, plan.centre)
        seconds = round(time.perf_counter() - started, 1)
        rows = reports.stored_rows(store)
    finally:
        store.close()
    return {"rows": rows["bucket_rows"], "calls": rows["calls"], "seconds": seconds}


def report_load(
    site: Site, plan: reports.Plan, worker: str | None = None
) -> tuple[ReportLoad, dict[str, float]]:
    """Seed ``site``'s report buckets (:func:`seed_buckets`); return how to read them and what
    the seeding wrote."""
    seeded = seed_buckets(site, plan)
    today = datetime.now(reports.TZ).date()
    month = {"by": "day", "from": (today - timedelta(days=30)).isoformat(), "to": str(today)}
    cases = tuple(
        (f"{dim} month by day", {"dim": dim, **month}) for dim in ("queue", "group", "agent")
    )
    return ReportLoad(site.admin_cookie(), reports.TZ.key, cases, worker), seeded


def read_figures(path: Path, phases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per replay phase, the reports answered during it: how many a second, their p50/p95 and
    how many failed; and over the whole pass, every request and every failure."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    out: dict[str, Any] = {
        "requests": len(records),
        "failed": sum(1 for r in records if r[3] != 200),
        "rows": sorted({r[4] for r in records}),
    }
    for number, phase in enumerate(phases):
        start, end = phase["start"], phase["end"]
        inside = [r for r in records if start <= r[1] + r[2] <= end]
        seconds = [r[2] for r in inside if r[3] == 200]
        out[str(number)] = {
            "per_s": len(seconds) / max(end - start, 1e-9),
            "p50_ms": percentile(seconds, 50) * 1000,
            "p95_ms": percentile(seconds, 95) * 1000,
            "failed": len(inside) - len(seconds),
        }
    return out


def add_read_rows(report: Report, label: str, reads: dict[str, Any], number: int) -> None:
    """The reports read during phase ``number``: how many a second, how long each took, and
    how busy the reader process was (it shares the machine's cores with the daemon)."""
    phase = reads[str(number)]
    report.add(f"{label} reports read", phase["per_s"], "/s")
    report.add(f"{label} report p50", phase["p50_ms"], "ms")
    report.add(f"{label} report p95", phase["p95_ms"], "ms")
    if "reader_cpu_pct" in phase:
        report.add(f"{label} report reader process", phase["reader_cpu_pct"], "% CPU")
