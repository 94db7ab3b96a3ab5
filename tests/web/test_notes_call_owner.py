"""Notes and dispositions from the websocket when the node tracking the call answers or not.

``AgentMessages`` asks whether the agent was shown the call before it keeps anything (in a
cluster, of the owner of the call's server, ``cti.cluster.pops``; here a fake answers or raises
as that owner would). What it keeps is in the store every node shares. The websocket turns what
it raises into the agent's ``error`` frame (``tests/web/test_ws.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_ui.agent_messages import AgentMessages
from agent_ui.protocol import Disposition, Notes
from cti.errors import OwnerUnreachable, PermissionDenied
from cti.principal import Principal, Role
from cti.store import Store
from cti.store.migrations import upgrade

CALL = "lab:1795309435.2"
ALICE = Principal("alice", "Alice Agent", Role.AGENT)
BOB = Principal("bob", "Bob Agent", Role.AGENT)


class Owner:
    """The node tracking ``CALL``: it popped it to alice; it may be out of reach or slow."""

    def __init__(self) -> None:
        self.reachable = True
        self.delay_s = 0.0
        self.asked: list[tuple[str, str]] = []

    async def was_shown(self, agent: str, call_id: str) -> bool:
        self.asked.append((agent, call_id))
        await asyncio.sleep(self.delay_s)
        if not self.reachable:
            raise OwnerUnreachable("node a did not answer within 5 s", details={"node": "a"})
        return (agent, call_id) == ("alice", CALL)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    upgrade(url)
    opened = Store(url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def owner() -> Owner:
    return Owner()


@pytest.fixture
def messages(store: Store, owner: Owner) -> AgentMessages:
    return AgentMessages(store, owner.was_shown)


async def test_notes_and_a_disposition_on_a_shown_call_are_kept_together(
    messages: AgentMessages, owner: Owner, store: Store
) -> None:
    await messages(ALICE, Notes(CALL, "Invoice 42 disputed"))
    await messages(ALICE, Disposition(CALL, "Follow-up"))
    [note] = store.notes_for(CALL)
    assert (note.username, note.notes, note.disposition) == (
        "alice",
        "Invoice 42 disputed",
        "Follow-up",
    )
    assert owner.asked == [("alice", CALL), ("alice", CALL)]


async def test_a_call_not_shown_to_the_agent_is_refused_and_nothing_kept(
    messages: AgentMessages, store: Store
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await messages(BOB, Notes(CALL, "not mine"))
    assert refused.value.details == {"call_id": CALL}
    assert store.notes_for(CALL) == []


async def test_an_owner_out_of_reach_raises_and_nothing_is_kept(
    messages: AgentMessages, owner: Owner, store: Store
) -> None:
    """Not a "not yours" (the agent would give up on notes that are hers), not a silent drop:
    the error reaches her tab as ``cluster.owner_unreachable``, and she can send again."""
    owner.reachable = False
    for message in (Notes(CALL, "Invoice 42 disputed"), Disposition(CALL, "Resolved")):
        with pytest.raises(OwnerUnreachable) as failed:
            await messages(ALICE, message)
        assert failed.value.error_id == "cluster.owner_unreachable"
    assert store.notes_for(CALL) == []


async def test_an_owner_slower_than_the_message_timeout_leaves_nothing_kept(
    messages: AgentMessages, owner: Owner, store: Store
) -> None:
    """The websocket gives a message ``message_timeout_s`` and answers ``request.timeout``
    when it runs out: cancelled while the owner is asked, nothing is kept (no note saved
    after the agent was told it was not)."""
    owner.delay_s = 1.0
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await messages(ALICE, Notes(CALL, "Invoice 42 disputed"))
    await asyncio.sleep(0.2)
    assert store.notes_for(CALL) == []
