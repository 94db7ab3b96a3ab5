"""``cti bench reports``: report query time on a store holding a year of buckets.

Seeds a SQLite store with synthetic buckets as the recorder would have written them: a year of
day buckets for every queue and agent, and 15-minute buckets for the last 31 days of the
queues (7 days of the agents), then times the reports a supervisor or admin asks for most: a
month by day per queue, group and agent, a day by 15 minutes, a year by week. Each query runs
``rounds`` times through :class:`cti.reports.service.Reports` (validation, scope, SQL, roll-up),
and the p50/p95 are printed beside the 1 s target.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cti.principal import Principal, Role
from cti.reports.buckets import QUARTER, Counting, Deltas, day_start
from cti.reports.rows import add_deltas
from cti.reports.service import Reports
from cti.store import GroupSpec, Store
from sip_tests.bench.results import Report, percentile

__all__ = ["run_reports"]

TZ = ZoneInfo("Europe/London")
_QUEUE_METRICS = (
    "offered", "answered", "abandoned", "abandoned_short", "exited", "wait_answered",
    "sl_answered", "talk", "wrap", "transfers", "rna",
)  # fmt: skip
_AGENT_METRICS = ("calls", "queue_calls", "talk", "outbound", "transfers", "rna", "login")
_PAUSES = ("pause:lunch", "pause:wrap-up", "pause:training")


def _seed(store: Store, queues: int, agents: int, q_days: int, agent_q_days: int) -> int:
    """Write the synthetic buckets; return how many rows."""
    rng = random.Random(18)
    today = datetime.now(TZ).date()
    rows = 0
    for offset in range(365):
        day = today - timedelta(days=offset)
        start = day_start(datetime(day.year, day.month, day.day, 12, tzinfo=TZ).timestamp(), TZ)
        deltas = Deltas(Counting(TZ))
        for q in range(queues):
            for metric in _QUEUE_METRICS:
                deltas.sums[("d", start, "queue", f"q{q:02}", metric)] = rng.randint(0, 400)
            deltas.maxes[("d", start, "queue", f"q{q:02}", "wait_max")] = rng.randint(0, 600)
            if offset < q_days:
                for quarter in range(96):
                    at = start + quarter * QUARTER
                    for metric in _QUEUE_METRICS:
                        deltas.sums[("q", at, "queue", f"q{q:02}", metric)] = rng.randint(0, 9)
        for a in range(agents):
            for metric in (*_AGENT_METRICS, *_PAUSES):
                deltas.sums[("d", start, "agent", f"agent{a:03}", metric)] = rng.randint(0, 900)
            if offset < agent_q_days:
                for quarter in range(96):
                    at = start + quarter * QUARTER
                    for metric in _AGENT_METRICS:
                        deltas.sums[("q", at, "agent", f"agent{a:03}", metric)] = rng.randint(0, 9)
        with store.writing("bench.seed") as conn:
            rows += add_deltas(conn, deltas)
    return rows


def _groups(store: Store, queues: int, agents: int) -> None:
    for g in range(max(1, queues // 4)):
        store.create_group(
            GroupSpec(
                name=f"group{g}",
                queues=tuple(f"q{q:02}" for q in range(g * 4, min(queues, g * 4 + 4))),
                members=(),
            )
        )
    del agents


async def _time(reports: Reports, params: dict[str, str], rounds: int) -> list[float]:
    admin = Principal("root", "root", Role.ADMIN)
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        await reports.report(admin, params)
        out.append(time.perf_counter() - started)
    return out


def run_reports(*, quick: bool) -> Report:
    """Seed, query, report."""
    queues, agents = (8, 40) if quick else (20, 200)
    q_days, agent_q_days = (7, 2) if quick else (31, 7)
    rounds = 5 if quick else 20
    report = Report("reports", quick)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        store.upgrade()
        started = time.perf_counter()
        rows = _seed(store, queues, agents, q_days, agent_q_days)
        report.details["seed_rows"] = rows
        report.details["seed_s"] = round(time.perf_counter() - started, 1)
        _groups(store, queues, agents)
        reports = Reports(store.aio, TZ)
        today = date.today()
        month = (today - timedelta(days=30)).isoformat()
        cases = {
            "queue month by day": {"dim": "queue", "by": "day", "from": month},
            "group month by day": {"dim": "group", "by": "day", "from": month},
            "agent month by day": {"dim": "agent", "by": "day", "from": month},
            "queue year by week": {
                "dim": "queue", "by": "week", "from": (today - timedelta(days=364)).isoformat(),
            },
            "queue day by 15 min": {"dim": "queue", "by": "15m", "from": today.isoformat()},
            "queue week by hour": {
                "dim": "queue", "by": "hour", "from": (today - timedelta(days=6)).isoformat(),
            },
        }  # fmt: skip
        for name, params in cases.items():
            params["to"] = today.isoformat()
            seconds = asyncio.run(_time(reports, params, rounds))
            p95 = percentile(seconds, 95) * 1000
            report.add(f"{name} p50", percentile(seconds, 50) * 1000, "ms")
            report.add(f"{name} p95", p95, "ms", target="< 1000 ms", ok=p95 < 1000)
        store.close()
    report.details.update(
        queues=queues, agents=agents, q_days=q_days, agent_q_days=agent_q_days, rounds=rounds,
        store="sqlite", started=datetime.now(UTC).isoformat(),
    )  # fmt: skip
    return report
