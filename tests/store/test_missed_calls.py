"""Missed calls in the store (SQLite and PostgreSQL): written off the read path in batches, one
entry per agent and call, listed and marked seen by their own agent only, told to every tab."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from cti.core.updates import CallUpdate
from cti.errors import PermissionDenied, StoreUnavailable, ValidationFailed
from cti.missed_calls import MissedCallNotFound, MissedCalls
from cti.principal import Principal, Role
from cti.store import Store
from tests.missed_calls.test_missed import RECORD, ended, owners

ALICE = Principal("alice", "Alice", Role.AGENT)
BOB = Principal("bob", "Bob", Role.AGENT)
ADA = Principal("ada", "Ada", Role.ADMIN)


class Told:
    """The notifier port, recording what every tab would hear."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, dict[str, object]]] = []

    def missed_calls(self, agent: str, data: Any) -> None:
        self.frames.append((agent, dict(data)))


def calls(n: int) -> list[CallUpdate]:
    return [ended(replace(RECORD, call_id=f"lab:{i}")) for i in range(n)]


async def test_observed_calls_are_stored_once_per_agent_and_every_tab_told(store: Store) -> None:
    told = Told()
    book = MissedCalls(store, owners, told)
    book.observe(calls(2))
    book.observe(calls(1))  # the same call again (a restored call, a retried write)
    assert (await book.list_of(ALICE)).calls == []  # nothing written on the read path
    assert await book.flush()

    alice = await book.list_of(ALICE)
    assert [c["call_id"] for c in alice.calls] == ["lab:1", "lab:0"]  # newest first
    assert alice.unseen == 2 and not alice.calls[0]["seen"]
    assert alice.calls[0]["caller_number"] == "+442079460001"
    assert (await book.list_of(BOB)).unseen == 2
    assert sorted(told.frames) == [
        ("alice", {"unseen": 2, "changed": "added"}),
        ("bob", {"unseen": 2, "changed": "added"}),
    ]


async def test_an_agent_marks_only_their_own_entries_seen(store: Store) -> None:
    told = Told()
    book = MissedCalls(store, owners, told)
    book.observe(calls(3))
    await book.flush()
    alice_ids = [c["id"] for c in (await book.list_of(ALICE)).calls]
    bob_ids = [c["id"] for c in (await book.list_of(BOB)).calls]

    assert await book.mark_seen(ALICE, [alice_ids[0]], None) == 2
    assert told.frames[-1] == ("alice", {"unseen": 2, "changed": "seen"})
    # One of bob's among alice's: refused whole, nothing marked for either.
    with pytest.raises(MissedCallNotFound) as refused:
        await book.mark_seen(ALICE, [alice_ids[1], bob_ids[2]], None)
    assert refused.value.status == 404 and refused.value.error_id == "missed_call.not_found"
    assert (await book.list_of(ALICE)).unseen == 2
    assert (await book.list_of(BOB)).unseen == 3

    assert await book.mark_seen(BOB, None, True) == 0
    assert all(c["seen"] for c in (await book.list_of(BOB)).calls)
    assert (await book.list_of(ALICE)).unseen == 2


@pytest.mark.parametrize(
    ("ids", "everything"),
    [(None, None), ([], None), (["1"], None), ([True], None), ([0], None), ([1], True),
     (None, "yes"), (list(range(1, 502)), None)],
)  # fmt: skip
async def test_bad_requests_are_refused_with_422(
    store: Store, ids: object, everything: object
) -> None:
    book = MissedCalls(store, owners, Told())
    with pytest.raises(ValidationFailed) as refused:
        await book.mark_seen(ALICE, ids, everything)
    assert refused.value.status == 422


async def test_admins_have_no_missed_calls_list(store: Store) -> None:
    book = MissedCalls(store, owners, Told())
    with pytest.raises(PermissionDenied):
        await book.list_of(ADA)
    with pytest.raises(PermissionDenied):
        await book.mark_seen(ADA, None, True)


async def test_a_refused_write_is_kept_and_written_at_the_next_round(store: Store) -> None:
    told = Told()
    book = MissedCalls(store, owners, told)
    real = store.aio.run

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("store down")

    store.aio.run = down  # type: ignore[method-assign]
    book.observe(calls(1))
    assert not await book.flush()
    store.aio.run = real  # type: ignore[method-assign]
    assert told.frames == []
    book.observe(calls(2))
    assert await book.flush()
    assert [c["call_id"] for c in (await book.list_of(ALICE)).calls] == ["lab:1", "lab:0"]


async def test_its_task_writes_every_round_and_close_writes_the_rest(store: Store) -> None:
    book = MissedCalls(store, owners, Told(), every_s=0.05)
    book.start()
    book.observe(calls(1))
    for _ in range(100):
        if (await book.list_of(ALICE)).unseen:
            break
        await asyncio.sleep(0.02)
    assert (await book.list_of(ALICE)).unseen == 1
    book.observe(calls(2))
    await book.close()
    assert (await book.list_of(ALICE)).unseen == 2
