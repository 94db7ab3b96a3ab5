"""Hubs of several nodes on one real Redis: isolation, numbering across nodes, resume on another
node without gaps, live and control messages, and a broker restarted mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest

from agent_ui import messages
from agent_ui.hub import AgentHub, Connection
from agent_ui.notifier import Notifier
from agent_ui.protocol import CloseCode, Outgoing
from broker_adapters.redis import BrokerKeys, RedisFanout, connect
from broker_adapters.redis.server import RedisServer
from cti.principal import Principal, Role
from tests.hub.fakes import FakeSender


class Node:
    """One node's hub on the shared broker, with the writer tasks of its connections."""

    def __init__(self, name: str, hub: AgentHub, fanout: RedisFanout, tasks: asyncio.TaskGroup):
        self.name, self.hub, self.fanout, self.tasks = name, hub, fanout, tasks

    async def open(
        self, agent: str, last_seq: int | None = None, epoch: str | None = None
    ) -> tuple[Connection, FakeSender]:
        """Open a tab as ws.py does: catch up from the broker, then open."""
        sender = FakeSender()
        epoch = self.hub.epoch if epoch is None else epoch
        earlier = await self.hub.catch_up(agent, last_seq, epoch)
        principal = Principal(agent, agent.title(), Role.AGENT)
        conn = self.hub.open(principal, sender, last_seq=last_seq, epoch=epoch, earlier=earlier)
        self.tasks.create_task(conn.run())
        return conn, sender


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Callable[[str], object]]:
    async with AsyncExitStack() as stack:
        tasks = await stack.enter_async_context(asyncio.TaskGroup())

        async def make(name: str) -> Node:
            fanout = RedisFanout(connect(redis_server.url), BrokerKeys("t"), name)
            hub = AgentHub(fanout=fanout)
            await fanout.start()
            stack.push_async_callback(fanout.close)
            stack.callback(hub.close_all)
            return Node(name, hub, fanout, tasks)

        yield make


def pop(call_id: str) -> Outgoing:
    return messages.pop(call_id, "<p>x</p>", {"call_id": call_id})


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110  (polls what the nodes' tasks deliver)
            await asyncio.sleep(0.01)


def seqs(sender: FakeSender) -> list[int]:
    return [f["seq"] for f in sender.of_type("pop")]


async def test_each_agent_gets_its_own_frames_numbered_across_nodes(cluster) -> None:
    a, b = await cluster("a"), await cluster("b")
    assert a.hub.epoch == b.hub.epoch  # one numbering for the whole cluster
    _, alice = await a.open("alice")
    _, bob = await b.open("bob")
    for i in range(3):
        b.hub.send("alice", pop(f"c{i}"))  # made on b, alice's tab is on a
        a.hub.send("alice", pop(f"d{i}"))
    b.hub.send("bob", pop("b0"))
    await until(lambda: len(seqs(alice)) == 6 and len(seqs(bob)) == 1)
    assert seqs(alice) == [1, 2, 3, 4, 5, 6]
    assert {f["data"]["call_id"] for f in alice.of_type("pop")} == {
        "c0", "c1", "c2", "d0", "d1", "d2"
    }  # fmt: skip
    assert [f["data"]["call_id"] for f in bob.of_type("pop")] == ["b0"]
    assert seqs(bob) == [1]


async def test_a_tab_resumes_on_another_node_without_gaps(cluster) -> None:
    a, b = await cluster("a"), await cluster("b")
    conn, first = await a.open("alice")
    for i in range(3):
        a.hub.send("alice", pop(f"c{i}"))
    await until(lambda: len(seqs(first)) == 3)
    conn.close()
    for i in range(3, 5):
        a.hub.send("alice", pop(f"c{i}"))  # missed while moving
    await until(lambda: a.hub.position("alice") == 5)
    c = await cluster("c")  # started after those: its own buffer holds none of them
    _, moved = await c.open("alice", last_seq=3)
    await until(lambda: len(seqs(moved)) == 2)
    b.hub.send("alice", pop("c5"))
    await until(lambda: len(seqs(moved)) == 3)
    assert moved.of_type("hello")[0]["data"]["resume"]["mode"] == "replay"
    assert seqs(moved) == [4, 5, 6]
    assert [f["data"]["call_id"] for f in moved.of_type("pop")] == ["c3", "c4", "c5"]


async def test_resume_past_the_shared_replay_gets_a_snapshot(cluster, redis_server) -> None:
    fanout = RedisFanout(connect(redis_server.url), BrokerKeys("t"), "a", replay_messages=10)
    hub = AgentHub(fanout=fanout)
    await fanout.start()
    try:
        for i in range(250):  # Redis trims whole stream nodes (100 entries) past the bound
            hub.send("alice", pop(f"c{i}"))
        await until(lambda: hub.position("alice") == 250)
        assert await fanout.missed("alice", 2) is None  # trimmed: not all there
        assert [s for s, _ in await fanout.missed("alice", 248) or []] == [249, 250]
    finally:
        await fanout.close()
    other = await cluster("b")
    _, tab = await other.open("alice", last_seq=2)
    await until(lambda: bool(tab.of_type("snapshot")))
    assert tab.of_type("hello")[0]["data"]["resume"]["mode"] == "snapshot"


async def test_live_views_and_disconnects_reach_other_nodes(cluster) -> None:
    a, b = await cluster("a"), await cluster("b")
    _, sam_a = await a.open("sam")
    _, sam_b = await b.open("sam")
    a.hub.notify("sam", Outgoing("group_state", {"n": 1}))
    await until(lambda: bool(sam_b.of_type("group_state")))
    assert len(sam_a.of_type("group_state")) == 1  # delivered once on its own node too
    a.hub.disconnect("sam", reason="logged out")
    await until(lambda: sam_b.closed is not None)
    assert sam_b.closed == (CloseCode.POLICY_VIOLATION, "logged out")


async def test_frames_sent_while_the_broker_restarts_arrive_once_in_order(
    cluster, redis_server: RedisServer
) -> None:
    a, b = await cluster("a"), await cluster("b")
    _, alice = await a.open("alice")
    epoch = a.hub.epoch
    for i in range(5):
        b.hub.send("alice", pop(f"c{i}"))
    await until(lambda: len(seqs(alice)) == 5)
    redis_server.stop()
    for i in range(5, 10):
        b.hub.send("alice", pop(f"c{i}"))  # queued on b while there is no broker
    await asyncio.sleep(0.5)
    redis_server.start()
    for i in range(10, 15):
        b.hub.send("alice", pop(f"c{i}"))
    await until(lambda: len(seqs(alice)) >= 15, timeout_s=15)
    await asyncio.sleep(0.3)
    assert seqs(alice) == list(range(1, 16))
    assert a.hub.epoch == epoch and alice.closed is None


async def test_a_broker_that_lost_its_data_starts_a_new_numbering(
    cluster, redis_server: RedisServer
) -> None:
    a = await cluster("a")
    _, alice = await a.open("alice")
    a.hub.send("alice", pop("c0"))
    await until(lambda: len(seqs(alice)) == 1)
    epoch = a.hub.epoch
    redis_server.stop()
    for name in ("appendonlydir", "dump.rdb"):
        target = redis_server.directory / name
        if target.is_dir():
            for child in target.iterdir():
                child.unlink()
    redis_server.start()
    await until(lambda: alice.closed is not None, timeout_s=15)
    assert alice.closed[0] == CloseCode.TRY_AGAIN_LATER
    assert a.hub.epoch != epoch


async def test_a_node_started_later_reads_which_pops_are_on_screen_from_the_replay(
    cluster,
) -> None:
    """What a new AMI owner asks before it shows restored calls again (issue 21)."""
    a = await cluster("a")
    _, alice = await a.open("alice")
    for call_id in ("c1", "c2", "c3"):
        a.hub.send("alice", pop(call_id))
    a.hub.send("alice", messages.pop_dismissed("c2", "answered_elsewhere"))
    a.hub.send("alice", messages.call_state("c3", "ended", {}))
    await until(lambda: len(seqs(alice)) == 3 and a.hub.position("alice") == 5)
    late = await cluster("late")  # its hub buffer never saw alice's frames
    assert late.hub.position("alice") == 0
    kept = await late.fanout.kept("alice")
    assert [seq for seq, _ in kept] == [1, 2, 3, 4, 5]
    assert await Notifier(late.hub).pops_on_screen("alice") == {"c1"}
    assert await Notifier(late.hub).pops_on_screen("bob") == set()
