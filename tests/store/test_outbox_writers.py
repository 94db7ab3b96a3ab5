"""Several writers on one PostgreSQL outbox, as several cluster nodes run (issue 21).

Two daemons' worth of parts, each with its own engine: both end the same calls (a repeated end
inserts nothing) and both writers deliver at once, small batches and a slow CRM keeping them
racing for rows (``SELECT ... FOR UPDATE SKIP LOCKED``). Every call reaches the CRM exactly
once, and every row is marked delivered by exactly one of them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from cti.core.records import CallRecord
from cti.store import OutboxWriter, Store
from tests.store.conftest import FAST_HASHER
from tests.store.fakes import eventually, record

pytestmark = pytest.mark.postgres

CALLS = [f"lab:1700000000.{n}" for n in range(300)]


class SharedCrm:
    """One CRM both writers talk to; it counts every call it was asked to log."""

    def __init__(self) -> None:
        self.logged: Counter[str] = Counter()
        self.by_writer: Counter[str] = Counter()

    def client(self, writer: str) -> _Client:
        return _Client(self, writer)


class _Client:
    def __init__(self, crm: SharedCrm, writer: str) -> None:
        self._crm, self._writer = crm, writer

    async def log_call(self, record: CallRecord) -> str:
        await asyncio.sleep(0.002)  # a CRM round trip: rows stay claimed a while
        self._crm.logged[record.call_id] += 1
        self._crm.by_writer[self._writer] += 1
        return f"crm-{record.call_id}"


@pytest.fixture
def stores(migrated_postgres_url: str) -> Iterator[tuple[Store, Store]]:
    a = Store(migrated_postgres_url, password_hasher=FAST_HASHER)
    b = Store(migrated_postgres_url, password_hasher=FAST_HASHER)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def writer(store: Store, crm: SharedCrm, name: str) -> OutboxWriter:
    return OutboxWriter(
        store.aio, {"builtin": crm.client(name)}, batch_size=5, concurrency=4, poll_interval=0.05
    )


async def test_two_writers_deliver_every_record_once(stores: tuple[Store, Store]) -> None:
    a, b = stores
    crm = SharedCrm()
    async with writer(a, crm, "a") as first, writer(b, crm, "b") as second:
        for n, call_id in enumerate(CALLS):  # both nodes end every call, in turns
            ends = [a.aio.run(a.end_call, record(call_id), ["builtin"]),
                    b.aio.run(b.end_call, record(call_id), ["builtin"])]  # fmt: skip
            await asyncio.gather(*(ends if n % 2 else reversed(ends)))
            first.poke()
            second.poke()
        await eventually(lambda: sum(crm.logged.values()) >= len(CALLS), within=60)
        await asyncio.sleep(0.5)  # anything delivered twice would have arrived by now
    assert set(crm.logged) == set(CALLS)
    assert [c for c, times in crm.logged.items() if times != 1] == []
    assert min(crm.by_writer["a"], crm.by_writer["b"]) > 0, crm.by_writer  # both took part
    rows = a.outbox_entries(include_delivered=True, limit=len(CALLS) + 10)
    assert len(rows) == len(CALLS)
    assert all(row.delivered_at is not None and row.attempts == 1 for row in rows)
    print(f"\ndelivered by writer: {dict(crm.by_writer)}")
