"""``cti bench access``: reservations per second and their latency, on SQLite and PostgreSQL.

Each backend gets a fresh store (a SQLite file in a temporary directory; a PostgreSQL database
``cti_bench_access_<random>`` on 127.0.0.1:5432, dropped afterwards) with one pool of
``DIDS`` numbers (routed to a group by the DID map, held for an hour) and one API key. Two
passes, each bounded by a request count and a deadline, ``IN_FLIGHT`` requests at a time:

- service: :meth:`AccessNumbers.reserve_request` in process (what the API calls once it has
  read the body: key, rate, reservation and audit), what a request costs without HTTP;
- daemon: ``POST /api/v1/interactions`` over HTTP on loopback to the real ``cti serve`` on the
  same store (its AMI pointed at a closed port: the API needs no PBX).

Every request names a caller number nobody else used, so every one is granted (numbers are
shared by distinct callers) and the pool's live reservations grow by one a request, as they do
on a busy pool whose customers take their time to call. Printed: reservations/s and the p50/p99
latency of each pass (granted requests only), the daemon's answers other than 201 (counted,
not raised: under a heavy load SQLite's lock wait can run out, a 503 ``store.unavailable``), and
the live reservations the pool ended with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
from psycopg import sql

from cti.access_numbers.service import AccessNumbers, ReservationRequest
from cti.access_numbers.values import AccessNumber, PoolSpec
from cti.store import GroupSpec, Store
from sip_tests.bench.results import Report, summary_ms
from sip_tests.daemon import ServeProcess, free_tcp_port

__all__ = ["run_access"]

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
DIDS = tuple(f"4420794698{n:02d}" for n in range(20))
IN_FLIGHT = 16


class _Refused(Exception):
    """A request answered otherwise than 201 (counted by the pass)."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    requests: int
    deadline_s: float


@dataclass
class _ApiDaemon(ServeProcess):
    """``cti serve`` on the bench's store; AMI at a port nobody listens on, warnings only."""

    workdir: Path
    store: str
    port: int = field(default_factory=free_tcp_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    start_until_healthy: ClassVar[bool] = False  # no PBX: /healthz says 503, which is enough

    @property
    def store_url(self) -> str:
        return self.store

    def settings_env(self) -> dict[str, str]:
        server = {"name": "bench", "port": free_tcp_port(), "username": "cti", "secret": "x"}
        return {"CTI_SERVERS": json.dumps([server]), "CTI_LOG_LEVEL": "WARNING"}


def _caller(n: int) -> str:
    return f"+4477009{n:05d}"


def _context(n: int) -> dict[str, object]:
    return {"who": f"Customer {n}", "intent": "refund", "order": f"A-{n}"}


def _body(n: int) -> dict[str, object]:
    return {"customer": {"crm_id": f"c{n}"}, "caller_number": _caller(n), "context": _context(n)}


async def _prepare(url: str) -> str:
    """Create the schema, the group, the pool and the key; return the key."""
    store = Store(url)
    access = AccessNumbers(store, default_region="GB")
    try:
        store.upgrade()
        store.create_group(GroupSpec(name="Bench", dids=DIDS))
        numbers = tuple(AccessNumber(did, "+" + did) for did in DIDS)
        await access.create_pool(PoolSpec("bench", numbers, hold_seconds=3600), "bench")
        _, key = await access.issue_key("bench", ["bench"], 100_000, "bench")
    finally:
        await access.close()
        store.close()
    return key


async def _drive(
    one: Callable[[int], Awaitable[None]], first: int, bounds: _Bounds
) -> tuple[list[float], float]:
    """Run ``one(n)`` for ``bounds.requests`` numbers from ``first``, IN_FLIGHT at a time,
    stopping at the deadline; return each latency and the wall time."""
    latencies: list[float] = []
    began = time.perf_counter()
    stop_at = began + bounds.deadline_s
    queue = iter(range(first, first + bounds.requests))

    async def worker() -> None:
        for n in queue:
            if time.perf_counter() > stop_at:
                return
            started = time.perf_counter()
            with contextlib.suppress(_Refused):
                await one(n)
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return latencies, time.perf_counter() - began


async def _service_pass(url: str, key: str, bounds: _Bounds) -> tuple[list[float], float]:
    store = Store(url)
    access = AccessNumbers(store, default_region="GB")
    await access.start()

    async def one(n: int) -> None:
        wanted = ReservationRequest(None, None, f"c{n}", _caller(n), _context(n))
        await access.reserve_request(key, wanted)

    try:
        return await _drive(one, 0, bounds)
    finally:
        await access.close()
        store.close()


async def _daemon_pass(
    url: str, key: str, workdir: Path, first: int, bounds: _Bounds, *, refused: Counter[str]
) -> tuple[list[float], float]:
    daemon = _ApiDaemon(workdir, url)
    await asyncio.to_thread(daemon.start)
    auth = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    try:
        async with httpx.AsyncClient(base_url=daemon.origin, timeout=30, limits=limits) as http:

            async def one(n: int) -> None:
                answer = await http.post("/api/v1/interactions", json=_body(n), headers=auth)
                if answer.status_code != 201:  # counted, and its latency left out
                    refused[f"{answer.status_code} {answer.json().get('error')}"] += 1
                    raise _Refused

            await one(first)  # the first request warms the daemon's connections
            return await _drive(one, first + 1, bounds)
    finally:
        await asyncio.to_thread(daemon.stop)


def _live(url: str) -> int:
    store = Store(url)
    try:
        with store.reading("bench.live") as conn:
            query = "SELECT count(*) FROM access_reservations WHERE state = 'live'"
            return int(conn.exec_driver_sql(query).scalar_one())
    finally:
        store.close()


@contextmanager
def _postgres_url() -> Iterator[str]:
    name = f"cti_bench_access_{secrets.token_hex(4)}"
    ident = sql.Identifier(name)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def _add(report: Report, label: str, latencies: list[float], wall: float) -> None:
    figures = summary_ms(latencies)
    report.add(f"{label} reservations/s", len(latencies) / wall if wall else 0.0, "/s")
    report.add(f"{label} p50", figures["p50_ms"], "ms")
    report.add(f"{label} p99", figures["p99_ms"], "ms")
    report.details[f"{label} requests"] = len(latencies)


async def _backend(report: Report, name: str, url: str, workdir: Path, bounds: _Bounds) -> None:
    key = await _prepare(url)
    latencies, wall = await _service_pass(url, key, bounds)
    _add(report, f"{name} service", latencies, wall)
    done = len(latencies)
    refused: Counter[str] = Counter()
    latencies, wall = await _daemon_pass(url, key, workdir, done, bounds, refused=refused)
    _add(report, f"{name} HTTP daemon", latencies, wall)
    report.add(f"{name} HTTP daemon answers not 201", sum(refused.values()), "requests")
    report.details[f"{name} HTTP daemon answers not 201"] = dict(refused)
    report.details[f"{name} live reservations at the end"] = await asyncio.to_thread(_live, url)


def run_access(*, quick: bool, backends: tuple[str, ...] = ("sqlite", "postgres")) -> Report:
    """Run both passes on each backend; return the report."""
    report = Report("access", quick)
    bounds = _Bounds(300, 20.0) if quick else _Bounds(2000, 90.0)
    report.details.update(
        {"pool_numbers": len(DIDS), "in_flight": IN_FLIGHT, "max_requests": bounds.requests}
    )
    with tempfile.TemporaryDirectory(prefix="cti-bench-access-") as tmp:
        work = Path(tmp)
        if "sqlite" in backends:
            url = f"sqlite:///{work / 'store.sqlite3'}"
            asyncio.run(_backend(report, "SQLite", url, work / "sqlite", bounds))
        if "postgres" in backends:
            try:
                with _postgres_url() as url:
                    asyncio.run(_backend(report, "PostgreSQL", url, work / "pg", bounds))
            except psycopg.OperationalError as exc:
                report.details["postgres"] = f"skipped: {exc}"
    return report
