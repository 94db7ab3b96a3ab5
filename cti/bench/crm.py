"""CRM lookup: caller-ID lookups against a built-in CRM of 100k to 10M contacts.

Both backends: SQLite (a file) and PostgreSQL (127.0.0.1:5432, user postgres, a database made
for the run and dropped after). Each lookup is :meth:`BuiltinCrm.lookup_sync` on this thread,
the call the daemon makes on its CRM thread; numbers are drawn at random among the seeded
contacts (every tenth a number nobody has). The floors, in the same run: for SQLite, the bare
index probe on the phone table through ``sqlite3``; for PostgreSQL, a ``SELECT 1`` round trip
on a psycopg connection.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from crm_connectors.builtin import BuiltinCrm, seed_bulk, upgrade
from crm_connectors.builtin.bulk_rows import main_number
from cti.bench.results import Report, percentile

__all__ = ["PG_ADMIN_DSN", "run_crm"]

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def _timed(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        call()
        samples.append(clock() - started)
    return samples


def _numbers(contacts: int, count: int, rng: random.Random) -> list[str]:
    return [
        "+442079469999" if i % 10 == 9 else main_number(rng.randrange(1, contacts + 1))
        for i in range(count)
    ]


def _lookups(crm: BuiltinCrm, numbers: list[str]) -> list[float]:
    for number in numbers[:200]:  # warm the caches and the prepared statements
        crm.lookup_sync(number)
    it = iter(numbers)
    return _timed(lambda: crm.lookup_sync(next(it)), len(numbers))


def _sqlite(report: Report, contacts: int, lookups: int, workdir: Path) -> None:
    path = workdir / f"crm-{contacts}.sqlite3"
    url = f"sqlite:///{path}"
    started = time.monotonic()
    upgrade(url)
    seed_bulk(url, contacts)
    report.details[f"sqlite_{contacts}_seed_s"] = round(time.monotonic() - started, 1)
    rng = random.Random(7)  # noqa: S311 (a repeatable draw, not a secret)
    numbers = _numbers(contacts, lookups, rng)
    crm = BuiltinCrm.from_url(url, default_region="GB", max_workers=1)
    try:
        samples = _lookups(crm, numbers)
    finally:
        crm.close_sync()
    raw = sqlite3.connect(path)
    probe = "SELECT contact_id FROM crm_contact_phones WHERE e164 = ?"
    it = iter(numbers)
    floor = _timed(lambda: raw.execute(probe, (next(it),)).fetchall(), len(numbers))
    raw.close()
    label = f"SQLite {contacts:,} lookup"
    _add(report, label, samples=samples, floor=floor, target="p99 <= 100 us", p99_limit_us=100.0)


def _postgres(report: Report, contacts: int, lookups: int) -> None:
    name = f"cti_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        started = time.monotonic()
        upgrade(url)
        seed_bulk(url, contacts)
        report.details[f"postgres_{contacts}_seed_s"] = round(time.monotonic() - started, 1)
        rng = random.Random(7)  # noqa: S311 (a repeatable draw, not a secret)
        numbers = _numbers(contacts, lookups, rng)
        crm = BuiltinCrm.from_url(url, default_region="GB", max_workers=1)
        try:
            samples = _lookups(crm, numbers)
        finally:
            crm.close_sync()
        dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(200):
                conn.execute("SELECT 1").fetchall()
            floor = _timed(lambda: conn.execute("SELECT 1").fetchall(), lookups)
        label = f"PostgreSQL {contacts:,} lookup"
        _add(
            report,
            label,
            samples=samples,
            floor=floor,
            target="p99 <= 3x SELECT 1",
            p99_limit_us=None,
        )
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _add(
    report: Report,
    label: str,
    *,
    samples: list[float],
    floor: list[float],
    target: str,
    p99_limit_us: float | None,
) -> None:
    p50, p99 = percentile(samples, 50) * 1e6, percentile(samples, 99) * 1e6
    f50, f99 = percentile(floor, 50) * 1e6, percentile(floor, 99) * 1e6
    report.add(f"{label} p50", p50, "us", floor=f50)
    ok = p99 <= p99_limit_us if p99_limit_us is not None else p99 <= 3 * f99
    report.add(f"{label} p99", p99, "us", floor=f99, target=target, ok=ok)


def run_crm(
    *,
    quick: bool,
    sizes: tuple[int, ...] | None = None,
    backends: tuple[str, ...] = ("sqlite", "postgres"),
    workdir: Path | None = None,
) -> Report:
    """Seed each size on each backend, time lookups, return the report."""
    report = Report("crm", quick)
    chosen = sizes or ((100_000,) if quick else (1_000_000, 10_000_000))
    lookups = 5_000 if quick else 20_000
    report.details.update(sizes=list(chosen), lookups=lookups)
    with tempfile.TemporaryDirectory(prefix="cti-bench-crm-", dir=workdir) as tmp:
        for contacts in chosen:
            if "sqlite" in backends:
                _sqlite(report, contacts, lookups, Path(tmp))
            if "postgres" in backends:
                _postgres(report, contacts, lookups)
    return report
