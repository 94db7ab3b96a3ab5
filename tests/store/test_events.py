"""The append-only event history, and the async twins' own behaviour."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from cti.errors import StoreUnavailable, ValidationFailed
from cti.store import AsyncStore, Store
from tests.store.fakes import START, FakeClock


def test_events_are_appended_and_read_newest_first(store: Store, clock: FakeClock) -> None:
    first = store.record_event("agent.created", {"username": "alice"}, actor="admin")
    clock.advance(10)
    second = store.record_event("trunk.down", {"trunk": "carrier-1", "cause": 17})

    events = store.events()

    assert [e.id for e in events] == [second, first]
    assert events[0].kind == "trunk.down"
    assert events[0].actor is None
    assert events[0].details == {"trunk": "carrier-1", "cause": 17}
    assert events[1].at == START
    assert events[1].actor == "admin"
    assert [e.id for e in store.events(kind="agent.created")] == [first]
    assert [e.id for e in store.events(since=START)] == [second]
    assert store.events(limit=1)[0].id == second


def test_event_details_must_be_json(store: Store) -> None:
    with pytest.raises(ValidationFailed):
        store.record_event("x", {"when": START})
    with pytest.raises(ValidationFailed):
        store.record_event("", {})
    with pytest.raises(ValidationFailed):
        store.record_event("x", {"blob": "x" * 70000})
    assert store.events() == []


async def test_async_events(store: Store, clock: FakeClock) -> None:
    await store.aio.run(store.record_event, "outbox.retry", {"rows": 3}, actor="admin")
    clock.advance(timedelta(seconds=1).total_seconds())
    [event] = await store.aio.run(store.events, kind="outbox.retry")
    assert event.details == {"rows": 3}


async def test_a_store_call_that_hangs_is_unavailable(store: Store) -> None:
    slow = AsyncStore(store, store.executor, timeout=0.05)
    with pytest.raises(StoreUnavailable) as caught:
        await slow.run(time.sleep, 0.3)
    assert caught.value.details["operation"] == "sleep"
