"""Who an ended call's record names, and the pop questions that fall back on it.

A call's pops are remembered in memory by the node that tracked it. After that node restarts,
or its server moves to another node, an agent in wrap-up still writes notes on the call and
acts on it in the CRM: :class:`cti.cluster.pops.RecordedPops` asks the record queued at hangup,
which names the agents rung and the one who answered (``Store.record_names``).
"""

from __future__ import annotations

import pytest

from cti.cluster.pops import LocalPops, RecordedPops
from cti.errors import OwnerUnreachable
from cti.store import Store
from tests.store.fakes import record

CALL = "lab:1700000000.1"


class Forgotten:
    """A pop service that remembers nothing (a restarted node, or a new owner)."""

    def was_shown(self, agent: str, call_id: str) -> bool:
        return False

    def look_up_again(self, call_id: str) -> bool:
        return False


class Unreachable:
    """The pop questions of a cluster whose owner of the call's server does not answer."""

    async def was_shown(self, agent: str, call_id: str) -> bool:
        raise OwnerUnreachable("no node owns the AMI session of lab now")

    async def look_up_again(self, call_id: str) -> bool:
        raise OwnerUnreachable("no node owns the AMI session of lab now")


def test_the_record_names_the_agents_rung_and_the_one_who_answered(store: Store) -> None:
    store.end_call(record(CALL, agents_rung=("alice", "bob"), answered_by="carol"), ["builtin"])
    assert [store.record_names(CALL, who) for who in ("alice", "bob", "carol")] == [True] * 3
    assert not store.record_names(CALL, "mallory")
    assert not store.record_names("lab:1700000000.9", "alice")  # no record: a live call


async def test_a_restarted_node_lets_the_rung_agents_annotate_the_ended_call(store: Store) -> None:
    store.end_call(record(CALL, agents_rung=("alice",), answered_by="alice"), ["builtin"])
    pops = RecordedPops(
        LocalPops(Forgotten()),
        lambda call_id, agent: store.aio.run(store.record_names, call_id, agent),
    )
    assert await pops.was_shown("alice", CALL)
    assert not await pops.was_shown("mallory", CALL)
    assert not await pops.look_up_again(CALL)  # the call is over: nothing to look up


async def test_an_unreachable_owner_is_not_needed_once_the_record_answers(store: Store) -> None:
    store.end_call(record(CALL, agents_rung=("alice",), answered_by="alice"), ["builtin"])
    pops = RecordedPops(
        Unreachable(),
        lambda call_id, agent: store.aio.run(store.record_names, call_id, agent),
    )
    assert await pops.was_shown("alice", CALL)
    with pytest.raises(OwnerUnreachable):  # not named: only the owner could say, and cannot
        await pops.was_shown("mallory", CALL)
