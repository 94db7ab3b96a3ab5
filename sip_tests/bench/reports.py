"""``cti bench reports``: report query time on a store holding a year of buckets.

Seeds a store (SQLite, then PostgreSQL when it answers on loopback) with synthetic buckets as
the recorder would have written them: a year of day buckets for every queue and agent, and
15-minute buckets with their hour rollup for the last 31 days of the queues (7 days of the
agents), then times the reports a supervisor or admin asks for most: a month by day per queue,
group and agent, a day by 15 minutes, a year by week, a week by hour. Each query runs
``rounds`` times through :class:`cti.reports.service.Reports` (validation, scope, SQL, roll-up),
and the p50/p95 are printed beside the 1 s target. Reports by hour run twice per round,
alternating: "before" reads the quarters as before the hour rollup (span ``q``), "after" the
hour buckets (span ``h``), so a busy host slows both alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from cti.principal import Principal, Role
from cti.reports.buckets import HOUR, QUARTER, Counting, Deltas, day_start
from cti.reports.query import parse_request
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
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


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
                        _quarter(deltas, (at, "queue", f"q{q:02}", metric), rng.randint(0, 9))
        for a in range(agents):
            for metric in (*_AGENT_METRICS, *_PAUSES):
                deltas.sums[("d", start, "agent", f"agent{a:03}", metric)] = rng.randint(0, 900)
            if offset < agent_q_days:
                for quarter in range(96):
                    at = start + quarter * QUARTER
                    for metric in _AGENT_METRICS:
                        _quarter(deltas, (at, "agent", f"agent{a:03}", metric), rng.randint(0, 9))
        with store.writing("bench.seed") as conn:
            rows += add_deltas(conn, deltas)
    return rows


def _quarter(deltas: Deltas, where: tuple[int, str, str, str], value: float) -> None:
    """A quarter's value, added to its hour too (as the recorder counts since s0022)."""
    at, dim, key, metric = where
    deltas.sums[("q", at, dim, key, metric)] = value
    hour = ("h", at - at % HOUR, dim, key, metric)
    deltas.sums[hour] = deltas.sums.get(hour, 0.0) + value


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


async def _time(reports: Reports, params: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """Seconds per round of ``params``; by hour, of the quarters and of the hours alternately."""
    admin = Principal("root", "root", Role.ADMIN)
    request = parse_request(params, TZ, date.today())
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
def _postgres_url() -> Iterator[str]:
    name = f"cti_bench_reports_{secrets.token_hex(4)}"
    ident = sql.Identifier(name)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def _backend(
    report: Report, label: str, url: str, sizes: tuple[int, int, int, int], rounds: int
) -> None:
    """Seed the store at ``url`` and time every case on it."""
    queues, agents, q_days, agent_q_days = sizes
    store = Store(url)
    try:
        store.upgrade()
        started = time.perf_counter()
        report.details[f"{label} seed_rows"] = _seed(store, queues, agents, q_days, agent_q_days)
        report.details[f"{label} seed_s"] = round(time.perf_counter() - started, 1)
        _groups(store, queues, agents)
        reports = Reports(store.aio, TZ)
        for name, params in _cases().items():
            for variant, seconds in asyncio.run(_time(reports, params, rounds)).items():
                p95 = percentile(seconds, 95) * 1000
                figure = f"{label} {name}{variant}"
                report.add(f"{figure} p50", percentile(seconds, 50) * 1000, "ms")
                report.add(f"{figure} p95", p95, "ms", target="< 1000 ms", ok=p95 < 1000)
    finally:
        store.close()


def _cases() -> dict[str, dict[str, str]]:
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
        "agent day by hour": {"dim": "agent", "by": "hour", "from": today.isoformat()},
    }  # fmt: skip
    for params in cases.values():
        params["to"] = today.isoformat()
    return cases


def run_reports(*, quick: bool) -> Report:
    """Seed, query, report, on SQLite and on PostgreSQL (skipped when it does not answer)."""
    queues, agents = (8, 40) if quick else (20, 200)
    q_days, agent_q_days = (7, 2) if quick else (31, 7)
    rounds = 5 if quick else 20
    sizes = (queues, agents, q_days, agent_q_days)
    report = Report("reports", quick)
    report.details["load_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        _backend(report, "SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", sizes, rounds)
    try:
        with _postgres_url() as url:
            _backend(report, "PostgreSQL", url, sizes, rounds)
    except psycopg.OperationalError as exc:
        report.details["postgres"] = f"skipped: {exc}"
    report.details.update(
        queues=queues, agents=agents, q_days=q_days, agent_q_days=agent_q_days, rounds=rounds,
        started=datetime.now(UTC).isoformat(), load_after=os.getloadavg(), cpus=os.cpu_count(),
    )  # fmt: skip
    return report
