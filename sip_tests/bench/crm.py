"""CRM lookup: caller-ID lookups against a built-in CRM of 100k to 10M contacts.

Both backends: SQLite (a file) and PostgreSQL (127.0.0.1:5432, user postgres). The seeded
databases are kept between runs (SQLite files under ``/var/tmp/cti-bench-crm``, PostgreSQL
databases ``cti_bench_crm_<size>``) and reused when the signature stored in them (seed format,
schema revision, size) matches; seeding 10M contacts takes minutes, a lookup run seconds.
Lookups only read, so a reused database is the one a fresh seed would give. Before timing,
the database's files are read once into the OS page cache (``pg_prewarm`` in ``read`` mode on
PostgreSQL), as they are on a server that has been answering lookups, and as they were right
after a fresh seed.
Each lookup is :meth:`BuiltinCrm.lookup_sync` on this thread,
the call the daemon makes on its CRM thread; numbers are drawn at random among the seeded
contacts (every tenth a number nobody has). The floors, in the same run: for SQLite, the bare
index probe on the phone table through ``sqlite3``; for PostgreSQL, a ``SELECT 1`` round trip
on a psycopg connection.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from crm_connectors.builtin import BuiltinCrm, seed_bulk, upgrade
from crm_connectors.builtin.bulk_rows import MAX_CONTACTS, main_number
from crm_connectors.builtin.migrations import head_revision
from sip_tests.bench.results import Report, percentile

__all__ = ["CACHE_DIR", "PG_ADMIN_DSN", "run_crm"]

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
CACHE_DIR = Path("/var/tmp/cti-bench-crm")
#: Bump when seed_bulk's rows change, so cached databases are seeded again.
SEED_FORMAT = "bulk-1"
_SIGNATURE_TABLE = "cti_bench_seed"


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


def _signature(contacts: int) -> str:
    return f"{SEED_FORMAT}:{head_revision()}:{contacts}"


def _stored_signature(conn: Any) -> str | None:
    """Return the signature a seeded database holds (None if it has none)."""
    try:
        row = conn.execute(f"SELECT signature FROM {_SIGNATURE_TABLE}").fetchone()
    except (sqlite3.Error, psycopg.Error):
        return None
    return None if row is None else str(row[0])


def _sign(conn: Any, signature: str) -> None:
    conn.execute(f"CREATE TABLE {_SIGNATURE_TABLE} (signature TEXT NOT NULL)")
    placeholder = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    conn.execute(f"INSERT INTO {_SIGNATURE_TABLE} VALUES ({placeholder})", (signature,))


def _seeded(report: Report, key: str, url: str, contacts: int, sign: Callable[[], None]) -> None:
    started = time.monotonic()
    upgrade(url)
    seed_bulk(url, contacts)
    sign()
    report.details[key] = round(time.monotonic() - started, 1)


def _sqlite_db(report: Report, contacts: int, cache: Path) -> Path:
    """Return the SQLite file of ``contacts`` contacts, seeding it unless the cache has it."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"crm-{contacts}.sqlite3"
    signature = _signature(contacts)
    if path.exists():
        with closing(sqlite3.connect(path)) as raw:
            if _stored_signature(raw) == signature:
                report.details[f"sqlite_{contacts}_seed_s"] = "cached"
                return path
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)

    def sign() -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as raw:
            _sign(raw, signature)

    _seeded(report, f"sqlite_{contacts}_seed_s", f"sqlite:///{path}", contacts, sign)
    return path


def _warm_sqlite(path: Path) -> None:
    """Read the database file once, so lookups find its pages in the OS cache."""
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass


def _warm_postgres(dsn: str) -> None:
    """Read every table and index of the database into the OS cache (pg_prewarm, contrib)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute(
            "SELECT pg_prewarm(c.oid, 'read') FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
        )


def _sqlite(report: Report, contacts: int, lookups: int, cache: Path) -> None:
    path = _sqlite_db(report, contacts, cache)
    _warm_sqlite(path)
    url = f"sqlite:///{path}"
    rng = random.Random(7)
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


def _postgres_db(report: Report, contacts: int) -> str:
    """Return the name of the PostgreSQL database of ``contacts`` contacts, seeding it unless
    a database of that name already holds this seed."""
    name = f"cti_bench_crm_{contacts}"
    signature = _signature(contacts)
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name} connect_timeout=3"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if _stored_signature(conn) == signature:
                report.details[f"postgres_{contacts}_seed_s"] = "cached"
                return name
    except psycopg.OperationalError:
        pass  # no such database yet
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        ident = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))

    def sign() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            _sign(conn, signature)

    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    _seeded(report, f"postgres_{contacts}_seed_s", url, contacts, sign)
    return name


def _postgres(report: Report, contacts: int, lookups: int) -> None:
    name = _postgres_db(report, contacts)
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    _warm_postgres(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    rng = random.Random(7)
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
        report, label, samples=samples, floor=floor, target="p99 <= 3x SELECT 1", p99_limit_us=None
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
    cache: Path = CACHE_DIR,
) -> Report:
    """Seed (or reuse) each size on each backend, time lookups, return the report.

    The full run's "10M" is 9,999,999 contacts: the generated numbering has seven digits.
    """
    report = Report("crm", quick)
    chosen = sizes or ((100_000,) if quick else (1_000_000, MAX_CONTACTS - 1))
    lookups = 5_000 if quick else 20_000
    report.details.update(sizes=list(chosen), lookups=lookups, cache=str(cache))
    for contacts in chosen:
        if "sqlite" in backends:
            _sqlite(report, contacts, lookups, cache)
        if "postgres" in backends:
            _postgres(report, contacts, lookups)
    return report
