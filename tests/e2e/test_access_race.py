"""Two daemon processes (`cti serve`) on one PostgreSQL store, 1,000 reservations raced through
both APIs at once (32 in flight): every answer is 201 or 503, every granted reservation is a
row, and the rows hold no number twice against the sharing rules (a number held without a caller
number is held alone; callers sharing a number are all distinct), checked on the store itself.
Bounded: 1,000 requests, 12 numbers, 40 known callers and unknown ones; the time is printed."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from cti.access_numbers.service import AccessNumbers
from cti.access_numbers.values import AccessNumber, PoolSpec
from cti.store import GroupSpec, Store
from sip_tests.lab import LabHandle
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(300)]

DIDS = tuple(f"4420794699{n:02d}" for n in range(12))
CALLERS = tuple(f"+4477009001{n:02d}" for n in range(40))
REQUESTS, IN_FLIGHT = 1000, 32


@pytest.fixture
def daemons(
    lab: LabHandle, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[DaemonProcess, DaemonProcess]]:
    env = {"CTI_STORE__URL": postgres_url}
    first = DaemonProcess(lab, tmp_path / "a", extra_env=env)
    second = DaemonProcess(lab, tmp_path / "b", extra_env=env)
    seeded = first.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    first.start()
    second.start()
    yield first, second
    assert first.stop() == 0, first.log_tail()
    assert second.stop() == 0, second.log_tail()


async def _key(store_url: str) -> str:
    store = Store(store_url)
    access = AccessNumbers(store, default_region="GB")
    try:
        store.create_group(GroupSpec(name="Race", dids=DIDS))
        numbers = tuple(AccessNumber(did, "+" + did) for did in DIDS)
        spec = PoolSpec(name="race", numbers=numbers, hold_seconds=3600)
        await access.create_pool(spec, "test")
        _, key = await access.issue_key("racer", ["race"], 100_000, "test")
    finally:
        await access.close()
        store.close()
    return key


def _live_rows(store_url: str) -> list[tuple[str, str, str | None]]:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, did, caller FROM access_reservations WHERE state = 'live'")
            ).all()
    finally:
        engine.dispose()
    return [(r.id, r.did, r.caller) for r in rows]


async def test_two_daemons_race_a_thousand_reservations_without_breaking_the_rules(
    daemons: tuple[DaemonProcess, DaemonProcess], postgres_url: str
) -> None:
    key = await _key(postgres_url)
    auth = {"authorization": f"Bearer {key}"}
    chance = random.Random(17)
    bodies = [
        {
            "customer": {"crm_id": f"c{n}"},
            "caller_number": chance.choice(CALLERS) if chance.random() < 0.7 else None,
            "context": {"n": n},
        }
        for n in range(REQUESTS)
    ]
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with (
        httpx.AsyncClient(base_url=daemons[0].origin, timeout=30) as a,
        httpx.AsyncClient(base_url=daemons[1].origin, timeout=30) as b,
    ):

        async def one(n: int) -> httpx.Response:
            async with gate:
                client = a if n % 2 else b
                return await client.post("/api/v1/interactions", json=bodies[n], headers=auth)

        began = time.monotonic()
        answers = await asyncio.gather(*(one(n) for n in range(REQUESTS)))
        took = time.monotonic() - began

    codes = defaultdict(int)
    for answer in answers:
        codes[answer.status_code] += 1
    print(f"\n{REQUESTS} reservations through two daemons in {took:.1f} s: {dict(codes)}")
    assert set(codes) <= {201, 503}, [a.text for a in answers if a.status_code not in (201, 503)]
    assert codes[201] > len(DIDS) and codes[503] > 0  # shared numbers, then exhaustion
    assert all(a.headers["retry-after"].isdigit() for a in answers if a.status_code == 503)

    rows = await asyncio.to_thread(_live_rows, postgres_url)
    granted = {a.json()["id"]: a.json() for a in answers if a.status_code == 201}
    assert {r[0] for r in rows} == set(granted)  # every 201 is a row, no row without one
    for row_id, did, caller in rows:
        assert granted[row_id]["number"]["e164"] == "+" + did
        assert granted[row_id]["caller_number"] == caller
    holders: dict[str, list[str | None]] = defaultdict(list)
    for _, did, caller in rows:
        holders[did].append(caller)
    for did, callers in holders.items():
        if None in callers:
            assert callers == [None], f"{did} held alone yet shared: {callers}"
        else:
            assert len(set(callers)) == len(callers), f"{did} held twice for one caller"
