"""Hubs of several nodes on one real Redis: isolation, numbering across nodes, resume on another
node without gaps, live and control messages, a broker restarted mid-stream, and frames routed
only to the nodes holding the agent (its presence), tabs opening while frames flow included."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

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
        """Open a tab as ws.py does: serve the agent here for the socket's life, catch up from
        the broker, then open (the tab's writer runs until the connection closes)."""
        sender = FakeSender()
        epoch = self.hub.epoch if epoch is None else epoch
        principal = Principal(agent, agent.title(), Role.AGENT)
        opened: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

        async def serve() -> None:
            with self.hub.serving(agent):
                earlier = await self.hub.catch_up(agent, last_seq, epoch)
                conn = self.hub.open(
                    principal, sender, last_seq=last_seq, epoch=epoch, earlier=earlier
                )
                opened.set_result(conn)
                await conn.run()

        self.tasks.create_task(serve())
        return await opened, sender


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Callable[[str], object]]:
    async with AsyncExitStack() as stack:
        tasks = await stack.enter_async_context(asyncio.TaskGroup())

        async def make(name: str, **options: float) -> Node:
            fanout = RedisFanout(connect(redis_server.url), BrokerKeys("t"), name, **options)
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
    await until(lambda: a.fanout.published == 5)
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
        await until(lambda: fanout.published == 250)
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


class Spy:
    """Every message the broker publishes on one channel (a node's frames channel, say)."""

    def __init__(self, url: str, channel: str) -> None:
        self._client = connect(url)
        self._channel = channel
        self.messages: list[str] = []

    async def __aenter__(self) -> Spy:
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self._channel)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._pubsub.aclose()
        await self._client.aclose()

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is not None:
                self.messages.append(message["data"])

    def agents(self) -> list[str]:
        return [message.split("\n", 2)[1] for message in self.messages]


async def presence(url: str, agent: str) -> list[str]:
    """The nodes the broker routes ``agent``'s frames to (entries not expired)."""
    async with connect(url) as broker:
        seconds, micros = await broker.time()
        now_ms = seconds * 1000 + micros // 1000
        return sorted(await broker.zrangebyscore(BrokerKeys("t").presence(agent), now_ms, "+inf"))


async def test_a_node_holding_no_socket_of_an_agent_gets_none_of_its_frames(
    cluster, redis_server: RedisServer
) -> None:
    a, b = await cluster("a"), await cluster("b")
    async with Spy(redis_server.url, BrokerKeys("t").frames("b")) as to_b:
        conn, alice = await a.open("alice")
        assert await presence(redis_server.url, "alice") == ["a"]
        for i in range(3):
            b.hub.send("alice", pop(f"c{i}"))  # made on b, which holds no socket of alice
        _, bob = await b.open("bob")
        b.hub.send("bob", pop("b0"))
        await until(lambda: len(seqs(alice)) == 3 and len(seqs(bob)) == 1)
        await asyncio.sleep(0.1)
        assert to_b.agents() == ["bob"]  # the broker published none of alice's frames to b
        assert b.hub.position("alice") == 0

        conn.close()  # alice's last socket on a: her frames stop going there
        async with asyncio.timeout(5):
            while await presence(redis_server.url, "alice"):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        b.hub.send("alice", pop("c3"))
        await until(lambda: b.fanout.published == 5)
        await asyncio.sleep(0.1)
        assert a.hub.position("alice") == 3
        assert to_b.agents() == ["bob"]


async def test_tabs_opening_while_frames_flow_get_each_frame_once_in_order(cluster) -> None:
    """A node's first socket of an agent adds its presence and reads what was numbered before,
    in one step: every frame is in that read or comes live, never both, never neither. Tabs
    move to nodes (resume from a seq) and open afresh (snapshot), some closing at once, so that
    nodes leave and join again, all while three nodes publish."""
    nodes = [await cluster(name) for name in ("a", "b", "c")]
    _, first = await nodes[0].open("alice")  # a holds alice throughout
    total, turns = 1500, 30

    async def produce() -> None:
        for i in range(total):
            nodes[i % 3].hub.send("alice", pop(f"c{i}"))
            if i % 2 == 0:
                await asyncio.sleep(0.001)

    producing = asyncio.create_task(produce())
    closed: list[tuple[int, FakeSender]] = []  # (the seq a tab starts after, the tab)
    kept: list[tuple[int, FakeSender]] = [(0, first)]
    while_producing = 0
    for turn in range(turns):
        node = nodes[1 + turn % 2]
        while_producing += not producing.done()
        seen = seqs(first)
        after = seen[-1] if seen else 0
        moved_conn, moved = await node.open("alice", last_seq=after)
        fresh_conn, fresh = await node.open("alice")
        await until(lambda tab=fresh: bool(tab.frames))  # type: ignore[misc]
        start = fresh.of_type("hello")[0]["seq"]
        if turn < turns - 4:  # both close at once: the node may hold no socket of alice a while
            await asyncio.sleep(0.005)
            moved_conn.close()
            fresh_conn.close()
            closed += [(after, moved), (start, fresh)]
        else:
            kept += [(after, moved), (start, fresh)]
        await asyncio.sleep(0.01)
    await producing
    assert while_producing > turns // 2
    await until(lambda: all((seqs(tab) or [after])[-1] == total for after, tab in kept), 15)
    await asyncio.sleep(0.2)

    numbering = {f["seq"]: f["data"]["call_id"] for f in first.of_type("pop")}
    assert len(set(numbering.values())) == total  # each frame once, under one number
    for after, tab in kept:
        assert seqs(tab) == list(range(after + 1, total + 1))
    for after, tab in closed:  # cut off when closed, whole up to there
        got = seqs(tab)
        assert got == list(range(after + 1, after + 1 + len(got)))
    for _, tab in [*kept, *closed]:
        assert all(numbering[f["seq"]] == f["data"]["call_id"] for f in tab.of_type("pop"))
    modes = [tab.of_type("hello")[0]["data"]["resume"]["mode"] for _, tab in [*closed, *kept[1:]]]
    assert modes == ["replay", "snapshot"] * turns  # the moved tabs, each from the shared replay


async def test_a_killed_nodes_presence_expires(redis_server: RedisServer) -> None:
    """A node killed (SIGKILL) with an agent's socket is published to until its entry expires,
    then no more: the broker does not carry frames to a dead node for ever."""
    code = f"""
import asyncio
from agent_ui.hub import AgentHub
from broker_adapters.redis import BrokerKeys, RedisFanout, connect

async def main():
    fanout = RedisFanout(connect({redis_server.url!r}), BrokerKeys("t"), "doomed", presence_ttl_s=1)
    hub = AgentHub(fanout=fanout)
    await fanout.start()
    fanout.attach("alice")
    await fanout.attached("alice")
    print("holding", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""
    doomed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert doomed.stdout is not None
        async with asyncio.timeout(15):
            assert await doomed.stdout.readline() == b"holding\n"
        assert await presence(redis_server.url, "alice") == ["doomed"]
        doomed.kill()
        await doomed.wait()
        killed_at = asyncio.get_running_loop().time()
        fanout = RedisFanout(connect(redis_server.url), BrokerKeys("t"), "a")
        hub = AgentHub(fanout=fanout)
        await fanout.start()
        async with Spy(redis_server.url, BrokerKeys("t").frames("doomed")) as to_doomed:
            hub.send("alice", pop("c0"))
            await until(lambda: len(to_doomed.messages) == 1)  # its entry has not expired yet
            async with asyncio.timeout(5):
                while await presence(redis_server.url, "alice"):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            expired_after = asyncio.get_running_loop().time() - killed_at
            hub.send("alice", pop("c1"))
            await until(lambda: fanout.published == 2)
            await asyncio.sleep(0.1)
            assert len(to_doomed.messages) == 1
        await fanout.close()
        assert expired_after < 3  # its ttl (1 s) at most after its last renewal, and polling
        async with connect(redis_server.url) as broker:
            assert await broker.exists(BrokerKeys("t").presence("alice")) == 0
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()


async def test_a_lapsed_presence_is_joined_again_without_losing_a_frame(
    cluster, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry gone while the node still holds the agent (it could not renew in time, say):
    the node's next renewal finds it gone and joins again, reading what was numbered meanwhile;
    the live frames that come in the while wait behind that read. Frames flow all along."""
    a, b = await cluster("a", presence_ttl_s=0.3), await cluster("b")
    _, alice = await a.open("alice")
    answered = a.fanout._joined

    def slowly(*answer: object) -> None:  # a's join answers are handled 50 ms late (a busy node)
        asyncio.get_running_loop().call_later(0.05, answered, *answer)

    monkeypatch.setattr(a.fanout, "_joined", slowly)
    total = 1000

    async def produce() -> None:
        for i in range(total):
            b.hub.send("alice", pop(f"c{i}"))
            await asyncio.sleep(0.001)

    producing = asyncio.create_task(produce())
    async with connect(redis_server.url) as broker:
        while not producing.done():
            await asyncio.sleep(0.15)
            await broker.zrem(BrokerKeys("t").presence("alice"), "a")  # lapsed, a renews soon
    await until(lambda: len(seqs(alice)) == total)
    await asyncio.sleep(0.1)
    assert seqs(alice) == list(range(1, total + 1))
    assert [f["data"]["call_id"] for f in alice.of_type("pop")] == [f"c{i}" for i in range(total)]
