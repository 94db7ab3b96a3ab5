"""``cti bench reports``: report query time on a store holding a year of calls and their buckets.

Seeds two stores (SQLite, and PostgreSQL when it answers on loopback) with a year of synthetic
calls (1,000,000; 100,000 with ``--quick``; today is a whole day, calls after now too, so the
reports of today read a full day) over 20 queues and 200 agents (8 and 40), 20 DIDs and 4
trunks, made by :mod:`sip_tests.bench.report_calls`: each call's record goes into the
built-in CRM's ``crm_calls`` table of the same database, and its facts (queue visit, rings
unanswered, transfers, wrap-up, the finished call; the agents' logins and pauses) are counted by
the daemon's own :class:`cti.reports.buckets.Deltas` and written by
:func:`cti.reports.rows.add_deltas`, a day per transaction, as the recorder writes them. Calls
are made and counted once and written into both stores; ``seed_s`` is that plus the store's own
writes (``write_s``), what seeding it alone takes.

To bound the seed time, the 15-minute and hour buckets are kept for the most recent days only:
31 days of queues, DIDs and trunks, 7 of agents (7 and 2 with ``--quick``); older ``q`` and
``h`` keys are dropped from each day's deltas before writing. Reports by day, week or month read
only ``d`` rows, which the primary key's leading ``span`` column keeps apart, so the dropped
rows would not be read by them. On PostgreSQL the seeded tables are then ANALYZEd, as
autovacuum would have done on a site (:func:`_analyze`).

Then it times the reports a supervisor or admin asks for most: a month by day of each dimension
(queue, group, agent, DID, trunk), a day by 15 minutes, a year by week, a week by hour. Each
query runs ``rounds`` times through :class:`cti.reports.service.Reports` (validation, scope,
SQL, roll-up), and the p50/p95 are printed beside the 1 s target. Reports by hour run twice per
round, alternating: "before" reads the quarters as before the hour rollup (span ``q``), "after"
the hour buckets (span ``h``), so a busy host slows both alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy import func, select

from crm_connectors.builtin import upgrade as upgrade_crm
from crm_connectors.builtin.models import calls as crm_calls
from cti.principal import Principal, Role
from cti.reports.buckets import Counting, Deltas
from cti.reports.query import parse_request
from cti.reports.rows import add_deltas
from cti.reports.service import Reports
from cti.store import GroupSpec, Store
from cti.store.report_tables import report_buckets
from sip_tests.bench.report_calls import CallMaker, Centre, calls_per_day, crm_row
from sip_tests.bench.results import Report, percentile

__all__ = [
    "FULL_PLAN",
    "QUICK_PLAN",
    "TZ",
    "Plan",
    "add_groups",
    "run_reports",
    "seed_calls",
    "stored_rows",
]

TZ = ZoneInfo("Europe/London")
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the bench seeds: ``calls`` calls over the last ``days`` days; 15-minute and hour
    buckets kept for the last ``q_days`` days of queues, DIDs and trunks, ``agent_q_days`` of
    agents."""

    centre: Centre
    calls: int
    q_days: int
    agent_q_days: int
    days: int = 365

    def dates(self, today: date) -> list[date]:
        """The local days the calls are spread over, oldest first, ``today`` last."""
        return [today - timedelta(days=offset) for offset in range(self.days - 1, -1, -1)]


QUICK_PLAN = Plan(Centre(queues=8, agents=40), calls=100_000, q_days=7, agent_q_days=2)
FULL_PLAN = Plan(Centre(queues=20, agents=200), calls=1_000_000, q_days=31, agent_q_days=7)


def seed_calls(stores: Mapping[str, Store], plan: Plan, today: date) -> dict[str, float]:
    """Make the plan's calls up to ``today``, count their facts as the daemon does and write
    them with their call records into every store, a day per transaction, oldest first.

    Calls are made and counted once for all the stores (they hold the CRM's tables too:
    ``crm_connectors.builtin.upgrade``). Return the seconds spent making and counting
    (``make``) and writing into each store (by its name).
    """
    maker = CallMaker(plan.centre, TZ)
    days = plan.dates(today)
    keep = {"queue": _window(today, plan.q_days), "agent": _window(today, plan.agent_q_days)}
    seconds = dict.fromkeys(["make", *stores], 0.0)
    for day, count in zip(days, calls_per_day(plan.calls, days), strict=True):
        started = time.perf_counter()
        made = maker.day(day, count)
        deltas = Deltas(Counting(TZ))
        deltas.count(made.facts)
        _drop_quarters(deltas, keep)
        rows = [crm_row(record) for record in made.records]
        seconds["make"] += time.perf_counter() - started
        for name, store in stores.items():
            started = time.perf_counter()
            with store.writing("bench.seed") as conn:
                add_deltas(conn, deltas)
                if rows:
                    conn.execute(crm_calls.insert(), rows)
            seconds[name] += time.perf_counter() - started
    return seconds


def _window(today: date, days: int) -> int:
    """The local midnight from which the last ``days`` days' quarters and hours are kept."""
    first = today - timedelta(days=days - 1)
    return int(datetime(first.year, first.month, first.day, tzinfo=TZ).timestamp())


def _drop_quarters(deltas: Deltas, keep: dict[str, int]) -> None:
    """Drop the 15-minute and hour buckets older than their dimension's window (agents have
    their own; the queues' serves DIDs and trunks too)."""
    for table in (deltas.sums, deltas.maxes):
        old = [
            key
            for key in table
            if key[0] != "d" and key[1] < keep["agent" if key[2] == "agent" else "queue"]
        ]
        for key in old:
            del table[key]


def stored_rows(store: Store) -> dict[str, int]:
    """How many bucket rows of each span, and call records, the store holds."""
    with store.reading("bench.rows") as conn:
        spans = conn.execute(
            select(report_buckets.c.span, func.count()).group_by(report_buckets.c.span)
        ).all()
        calls = conn.execute(select(func.count()).select_from(crm_calls)).scalar_one()
    rows = {f"{span}_rows": int(n) for span, n in spans}
    return {**rows, "bucket_rows": sum(rows.values()), "calls": int(calls)}


def add_groups(store: Store, centre: Centre) -> None:
    """Groups of four queues (a group's report sums its queues)."""
    for g in range(max(1, centre.queues // 4)):
        queues = range(g * 4, min(centre.queues, g * 4 + 4))
        store.create_group(
            GroupSpec(
                name=f"group{g}",
                queues=tuple(centre.queue(q) for q in queues),
                members=(),
            )
        )


async def _time(reports: Reports, params: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """Seconds per round of ``params``; by hour, of the quarters and of the hours alternately."""
    admin = Principal("root", "root", Role.ADMIN)
    request = parse_request(params, TZ, datetime.now(TZ).date())
    variants = {"": request}
    if request.span == "h":
        variants = {" before": dataclasses.replace(request, span="q"), " after": request}
    out: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, variant in variants.items():
            started = time.perf_counter()
            await reports.answer(admin, variant)
            out[name].append(time.perf_counter() - started)
    return out


@contextmanager
def _postgres_url(report: Report) -> Iterator[str | None]:
    """A scratch database's URL, dropped after; None (and why, in the report) when PostgreSQL
    does not answer on loopback."""
    name = f"cti_bench_reports_{secrets.token_hex(4)}"
    ident = sql.Identifier(name)
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    except psycopg.OperationalError as exc:
        report.details["postgres"] = f"skipped: {exc}"
        yield None
        return
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def _prepare(store: Store, url: str, centre: Centre) -> None:
    """The store's schema, the CRM's beside it, and the groups."""
    store.upgrade()
    upgrade_crm(url)
    add_groups(store, centre)


def _seed(report: Report, stores: Mapping[str, Store], plan: Plan, today: date) -> None:
    """Seed ``stores``; record the seconds and the rows of each."""
    seconds = seed_calls(stores, plan, today)
    report.details["make_s"] = round(seconds["make"], 1)
    for label, store in stores.items():
        report.details[f"{label} write_s"] = round(seconds[label], 1)
        report.details[f"{label} seed_s"] = round(seconds["make"] + seconds[label], 1)
        report.details.update({f"{label} {name}": n for name, n in stored_rows(store).items()})
        started = time.perf_counter()
        if _analyze(store):
            report.details[f"{label} analyze_s"] = round(time.perf_counter() - started, 1)


def _analyze(store: Store) -> bool:
    """On PostgreSQL, gather the planner's statistics, as autovacuum does after a bulk load on
    a site (here it may be off, as on the development host, or not have come round yet): a
    year by week took 166 ms (p50) on the freshly seeded full store, 98 ms once analysed. Not
    on SQLite: the daemon never runs ANALYZE there, and the bench measures what it reads.
    Return whether it ran.
    """
    with store.writing("bench.analyze") as conn:
        if conn.dialect.name != "postgresql":
            return False
        conn.exec_driver_sql("ANALYZE report_buckets")
        conn.exec_driver_sql("ANALYZE crm_calls")
    return True


def _measure(report: Report, label: str, store: Store, today: date, rounds: int) -> None:
    """Time every case on ``store``."""
    reports = Reports(store.aio, TZ)
    for name, params in _cases(today).items():
        for variant, seconds in asyncio.run(_time(reports, params, rounds)).items():
            p95 = percentile(seconds, 95) * 1000
            figure = f"{label} {name}{variant}"
            report.add(f"{figure} p50", percentile(seconds, 50) * 1000, "ms")
            report.add(f"{figure} p95", p95, "ms", target="< 1000 ms", ok=p95 < 1000)


def _cases(today: date) -> dict[str, dict[str, str]]:
    month = (today - timedelta(days=30)).isoformat()
    cases = {
        f"{dim} month by day": {"dim": dim, "by": "day", "from": month}
        for dim in ("queue", "group", "agent", "did", "trunk")
    }
    cases |= {
        "queue year by week": {
            "dim": "queue", "by": "week", "from": (today - timedelta(days=364)).isoformat(),
        },
        "queue day by 15 min": {"dim": "queue", "by": "15m", "from": today.isoformat()},
        "queue week by hour": {
            "dim": "queue", "by": "hour", "from": (today - timedelta(days=6)).isoformat(),
        },
        "agent day by hour": {"dim": "agent", "by": "hour", "from": today.isoformat()},
    }  # fmt: skip
    for params in cases.values():
        params["to"] = today.isoformat()
    return cases


def run_reports(*, quick: bool) -> Report:
    """Seed, query, report, on SQLite and on PostgreSQL (skipped when it does not answer)."""
    plan = QUICK_PLAN if quick else FULL_PLAN
    centre = plan.centre
    rounds = 5 if quick else 20
    report = Report("reports", quick)
    report.details["load_before"] = os.getloadavg()
    today = datetime.now(TZ).date()
    with tempfile.TemporaryDirectory() as tmp, _postgres_url(report) as postgres:
        urls = {"SQLite": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"}
        if postgres is not None:
            urls["PostgreSQL"] = postgres
        stores: dict[str, Store] = {}
        try:
            for label, url in urls.items():
                stores[label] = Store(url)
                _prepare(stores[label], url, centre)
            _seed(report, stores, plan, today)
            for label, store in stores.items():
                _measure(report, label, store, today, rounds)
        finally:
            for store in stores.values():
                store.close()
    report.details.update(
        calls=plan.calls, queues=centre.queues, agents=centre.agents, dids=centre.dids,
        trunks=centre.trunks, q_days=plan.q_days, agent_q_days=plan.agent_q_days, rounds=rounds,
        started=datetime.now(UTC).isoformat(), load_after=os.getloadavg(), cpus=os.cpu_count(),
    )  # fmt: skip
    return report
