"""AgentHub with fake senders: numbering, isolation, replay, snapshots and slow clients."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from agent_ui import messages
from agent_ui.hub import AgentHub, Connection, HubLimits
from agent_ui.messages import ActivePop
from agent_ui.protocol import CloseCode, Outgoing
from cti.errors import ValidationFailed
from cti.principal import Principal, Role
from tests.hub.fakes import FakeSender

STREAM_TYPES = {"pop", "pop_update", "pop_dismissed", "call_state", "notes_saved"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Bench:
    """A hub plus the writer tasks of the connections a test opens (all owned here)."""

    def __init__(self, hub: AgentHub, tasks: asyncio.TaskGroup) -> None:
        self.hub = hub
        self.tasks = tasks
        self.conns: list[Connection] = []
        self.pops: dict[str, list[ActivePop]] = {}

    def open(
        self,
        agent: str,
        *,
        last_seq: int | None = None,
        epoch: str | None = None,
        sender: FakeSender | None = None,
        session_id: str | None = None,
    ) -> tuple[Connection, FakeSender]:
        sender = sender or FakeSender()
        principal = Principal(agent, agent.title(), Role.AGENT)
        conn = self.hub.open(
            principal,
            sender,
            last_seq=last_seq,
            epoch=self.hub.epoch if epoch is None else epoch,
            session_id=session_id,
        )
        self.tasks.create_task(conn.run())
        self.conns.append(conn)
        return conn, sender

    async def settle(self) -> None:
        """Let writers drain (fast senders) — bounded, no timing."""
        for _ in range(200):
            await asyncio.sleep(0)
            if all(c.pending == 0 or c.closed for c in self.conns):
                break
        for _ in range(5):
            await asyncio.sleep(0)


def pop_msg(n: int) -> Outgoing:
    return messages.pop(f"lab:{n}", f"<p>{n}</p>", {"call": {"caller_number": f"+4420{n:04d}"}})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bench(clock: Clock) -> AsyncIterator[Bench]:
    async with asyncio.TaskGroup() as tasks:
        holder: dict[str, Bench] = {}

        def source(agent: str) -> Iterable[ActivePop]:
            return holder["bench"].pops.get(agent, [])

        hub = AgentHub(source, limits=HubLimits(replay_messages=20), clock=clock)
        holder["bench"] = b = Bench(hub, tasks)
        yield b
        hub.close_all()


def stream_seqs(sender: FakeSender) -> list[int]:
    return [f["seq"] for f in sender.frames if f["type"] in STREAM_TYPES]


async def test_seq_has_no_gaps_per_agent(bench: Bench) -> None:
    _, a = bench.open("alice")
    _, b = bench.open("bob")
    for n in range(30):
        bench.hub.send("alice", pop_msg(n))
        if n % 3 == 0:
            bench.hub.send("bob", pop_msg(n))
    await bench.settle()
    assert stream_seqs(a) == list(range(1, 31))
    assert stream_seqs(b) == list(range(1, 11))


async def test_every_tab_gets_every_message_and_nobody_elses(bench: Bench) -> None:
    tabs = [bench.open("alice")[1] for _ in range(3)]
    _, bob = bench.open("bob")
    for n in range(5):
        bench.hub.send("alice", pop_msg(n))
    bench.hub.send("bob", messages.pop_dismissed("lab:9", "abandoned"))
    await bench.settle()
    for tab in tabs:
        assert tab.types() == ["hello", "snapshot"] + ["pop"] * 5
        assert [f["data"]["call_id"] for f in tab.of_type("pop")] == [f"lab:{n}" for n in range(5)]
    assert bob.types() == ["hello", "snapshot", "pop_dismissed"]
    assert bench.hub.metrics().connections == 4
    assert bench.hub.metrics().connected_agents == 2


async def test_hello_then_snapshot_for_a_fresh_page(bench: Bench) -> None:
    bench.pops["alice"] = [("lab:1", "<p>1</p>", {"call": {"caller_number": "+441"}})]
    bench.hub.send("alice", pop_msg(1))
    _, tab = bench.open("alice", last_seq=None)
    await bench.settle()
    hello, snap = tab.frames
    assert hello["type"] == "hello"
    assert hello["data"]["resume"] == {
        "mode": "snapshot",
        "epoch": bench.hub.epoch,
        "seq": 1,
        "replayed": 0,
    }
    assert hello["data"]["agent"]["username"] == "alice"
    assert snap == {
        "type": "snapshot",
        "seq": 1,
        "data": {
            "pops": [
                {
                    "call_id": "lab:1",
                    "html": "<p>1</p>",
                    "card": {"call": {"caller_number": "+441"}},
                    "dial": [{"number": "+441", "label": "caller"}],
                }
            ]
        },
    }


async def test_resume_replays_exactly_what_was_missed(bench: Bench) -> None:
    first, tab = bench.open("alice")
    for n in range(5):
        bench.hub.send("alice", pop_msg(n))
    await bench.settle()
    last = stream_seqs(tab)[-1]
    first.abandon()  # the tab lost its network
    for n in range(5, 9):
        bench.hub.send("alice", pop_msg(n))
    _, again = bench.open("alice", last_seq=last)
    bench.hub.send("alice", pop_msg(9))
    await bench.settle()
    assert again.frames[0]["type"] == "hello"
    assert again.frames[0]["seq"] == last == 5
    assert again.frames[0]["data"]["resume"]["mode"] == "replay"
    assert again.frames[0]["data"]["resume"]["replayed"] == 4
    assert stream_seqs(again) == [6, 7, 8, 9, 10]
    assert [f["data"]["call_id"] for f in again.frames[1:]] == [f"lab:{n}" for n in range(5, 10)]
    assert bench.hub.metrics().replays == 1


async def test_resume_at_head_replays_nothing(bench: Bench) -> None:
    bench.hub.send("alice", pop_msg(1))
    _, tab = bench.open("alice", last_seq=1)
    await bench.settle()
    assert tab.types() == ["hello"]
    assert tab.frames[0]["data"]["resume"]["mode"] == "replay"


@pytest.mark.parametrize(
    ("last_seq", "epoch"),
    [
        (3, None),  # past the buffer (20 messages kept, 30 sent)
        (29, "another-process"),  # the daemon restarted: seqs mean something else
        (31, None),  # ahead of the hub: a stale tab from another life
    ],
)
async def test_resume_that_cannot_replay_gets_a_snapshot(
    bench: Bench, last_seq: int, epoch: str | None
) -> None:
    bench.pops["alice"] = [("lab:29", "<p/>", {})]
    for n in range(30):
        bench.hub.send("alice", pop_msg(n))
    _, tab = bench.open("alice", last_seq=last_seq, epoch=epoch)
    bench.hub.send("alice", pop_msg(30))
    await bench.settle()
    assert tab.types() == ["hello", "snapshot", "pop"]
    assert [f["seq"] for f in tab.frames] == [30, 30, 31]
    assert tab.frames[0]["data"]["resume"]["mode"] == "snapshot"
    assert [p["call_id"] for p in tab.frames[1]["data"]["pops"]] == ["lab:29"]


async def test_replay_buffer_forgets_old_messages(bench: Bench, clock: Clock) -> None:
    bench.hub.send("alice", pop_msg(1))
    clock.now += 601
    bench.hub.send("alice", pop_msg(2))
    _, tab = bench.open("alice", last_seq=0)
    await bench.settle()
    assert tab.types() == ["hello", "snapshot"]
    _, tab2 = bench.open("alice", last_seq=1)
    await bench.settle()
    assert tab2.types() == ["hello", "pop"]


async def test_slow_tab_is_closed_while_others_keep_receiving(clock: Clock) -> None:
    limits = HubLimits(queue_messages=10)
    hub = AgentHub(lambda agent: [], limits=limits, clock=clock)
    assert not inspect.iscoroutinefunction(hub.send)  # send never awaits a socket
    async with asyncio.TaskGroup() as tasks:
        bench = Bench(hub, tasks)
        _, fast = bench.open("alice")
        _, other = bench.open("bob")
        _, slow = bench.open("alice", sender=FakeSender(stalled=True))
        for n in range(100):
            hub.send("alice", pop_msg(n))
            hub.send("bob", pop_msg(n))
            if n % 10 == 0:
                await asyncio.sleep(0)  # let the fast writers run, as the event loop would
        await bench.settle()
        assert slow.closed == (CloseCode.TRY_AGAIN_LATER, "too slow: reconnect and resume")
        assert stream_seqs(fast) == list(range(1, 101))
        assert stream_seqs(other) == list(range(1, 101))
        assert hub.connections_of("alice") == 1
        assert hub.metrics().dropped_slow_clients == 1
        hub.close_all()


async def test_a_write_blocked_too_long_closes_the_connection(clock: Clock) -> None:
    hub = AgentHub(lambda agent: [], limits=HubLimits(send_timeout_s=0.05), clock=clock)
    async with asyncio.TaskGroup() as tasks:
        bench = Bench(hub, tasks)
        _, slow = bench.open("alice", sender=FakeSender(stalled=True))
        conn = bench.conns[0]
    assert conn.closed
    assert slow.closed is not None
    assert slow.closed[0] == CloseCode.TRY_AGAIN_LATER
    assert hub.metrics().dropped_slow_clients == 1


async def test_close_interrupts_a_blocked_write(bench: Bench) -> None:
    conn, sender = bench.open("alice", sender=FakeSender(stalled=True))
    await bench.settle()
    conn.close(CloseCode.POLICY_VIOLATION, "logged out")
    await bench.settle()
    assert sender.closed == (CloseCode.POLICY_VIOLATION, "logged out")
    assert bench.hub.connections_of("alice") == 0


async def test_a_gone_browser_gets_no_close_frame(bench: Bench) -> None:
    conn, sender = bench.open("alice", sender=FakeSender(gone=True))
    await bench.settle()
    assert conn.closed
    assert sender.closed is None
    assert bench.hub.connections_of("alice") == 0


async def test_reply_repeats_the_position_and_reaches_one_tab(bench: Bench) -> None:
    conn, tab = bench.open("alice")
    _, other = bench.open("alice")
    bench.hub.send("alice", pop_msg(1))
    conn.reply(messages.pong("r1"))
    bench.hub.send("alice", pop_msg(2))
    await bench.settle()
    assert [(f["type"], f["seq"]) for f in tab.frames[2:]] == [("pop", 1), ("pong", 1), ("pop", 2)]
    assert other.types() == ["hello", "snapshot", "pop", "pop"]


async def test_disconnect_by_session_and_broadcast(bench: Bench) -> None:
    _, s1 = bench.open("alice", session_id="s1")
    _, s2 = bench.open("alice", session_id="s2")
    _, bob = bench.open("bob")
    assert bench.hub.disconnect("alice", session_id="s1", reason="logged out") == 1
    assert bench.hub.broadcast(messages.call_state("lab:1", "ended")) == 2
    await bench.settle()
    assert s1.closed == (CloseCode.POLICY_VIOLATION, "logged out")
    assert s2.types()[-1] == "call_state"
    assert bob.types()[-1] == "call_state"
    assert "call_state" not in s1.types()


async def test_a_message_json_cannot_carry_changes_nothing(bench: Bench) -> None:
    _, tab = bench.open("alice")
    bad: dict[str, Any] = {"when": object()}
    with pytest.raises(ValidationFailed):
        bench.hub.send("alice", messages.pop("lab:1", "", bad))
    assert bench.hub.send("alice", pop_msg(1)) == 1
    await bench.settle()
    assert stream_seqs(tab) == [1]


async def test_metrics_count_what_happened(bench: Bench) -> None:
    bench.open("alice")
    bench.open("alice")
    bench.hub.send("alice", pop_msg(1))
    bench.hub.send("carol", pop_msg(1))  # nobody connected: buffered for later
    metrics = bench.hub.metrics()
    assert metrics.messages_sent == 2
    assert metrics.frames_queued == 2 * 2 + 2  # hello+snapshot per tab, one pop per tab
    assert metrics.snapshots == 2
    assert metrics.connected_agents == 1
