"""The live view's pieces without a web server: live messages in the hub (not numbered, not
replayed) and the group monitor's agent states, calls and waiting callers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from agent_ui import messages
from agent_ui.hub import AgentHub
from agent_ui.protocol import Outgoing
from cti.core.events import Party, QueueMemberChanged
from cti.core.records import Direction
from cti.core.updates import CallAnswered, CallEnded, CallQueued, CallState, CallView
from cti.pop.directory import Directory, GroupConfig
from cti.principal import Principal, Role
from cti.store.values import GroupInfo, GroupSpec
from cti.supervision.live import GroupMonitor
from tests.hub.fakes import FakeSender

SAM = Principal("sam", "Sam Supervisor", Role.SUPERVISOR)


async def test_live_messages_repeat_the_seq_and_are_not_replayed() -> None:
    hub = AgentHub(lambda agent: [])
    first, second = FakeSender(), FakeSender()
    tabs = [hub.open(SAM, sender, last_seq=None) for sender in (first, second)]
    writers = [asyncio.create_task(tab.run()) for tab in tabs]
    assert hub.notify("sam", Outgoing("group_state", {"group": "Sales"})) == 2
    hub.send("sam", messages.pop_dismissed("lab:1", "abandoned"))
    await asyncio.sleep(0.05)
    for sender in (first, second):
        assert sender.types() == ["hello", "snapshot", "group_state", "pop_dismissed"]
        assert [f["seq"] for f in sender.frames] == [0, 0, 0, 1]  # the live one took no seq
    late = FakeSender()
    tab = hub.open(SAM, late, last_seq=0, epoch=hub.epoch)
    writers.append(asyncio.create_task(tab.run()))
    await asyncio.sleep(0.05)
    assert late.types() == ["hello", "pop_dismissed"]  # replay holds no live message
    assert hub.notify("nobody", Outgoing("group_state", {})) == 0
    hub.close_all()
    await asyncio.gather(*writers)


def view(call_id: str, **kw: object) -> CallView:
    values: dict[str, object] = {
        "call_id": call_id,
        "server": "lab",
        "direction": Direction.INBOUND,
        "state": CallState.RINGING,
        "caller": Party("+442079460001", "Alice Archer"),
        "called_number": "442079460200",
        "did": "442079460200",
        "trunk": "carrier",
        "queue": "support",
        "started_at": 1000.0,
        "answered_at": None,
        "agent": None,
        "ringing": (),
        "transferred_from": None,
        "originate_id": None,
        "flags": (),
    }
    values.update(kw)
    return CallView(**values)  # type: ignore[arg-type]


def test_agent_states_calls_waiting_and_wrap_up() -> None:
    now = [1100.0]
    calls: list[CallView] = []
    directory = Directory(
        endpoint_owners={
            "PJSIP/1003": ("carol",),
            "PJSIP/1004": ("dave",),
            "PJSIP/1001": ("alice",),
        },
        groups={"Support": GroupConfig("Support", wrapup_seconds=15)},
        did_groups={"442079460200": "Support"},
        queue_groups={"support": "Support"},
        agent_groups={"carol": ("Support",), "dave": ("Support",), "alice": ("Sales",)},
    )
    wrapups: dict[str, tuple[float, float | None]] = {}  # what the agent states say
    monitor = GroupMonitor(
        calls=lambda: calls,
        directory=lambda: directory,
        online=lambda user: user == "carol",
        wrapups=wrapups.get,
        clock=lambda: now[0],
    )
    group = GroupInfo(1, GroupSpec("Support", members=("carol", "dave"), queues=("support",)))
    event = QueueMemberChanged(
        server="lab",
        at=1050.0,
        queue="support",
        interface="PJSIP/1004",
        member_name="dave",
        paused=True,
        pause_reason="Wrap-Up",
        status=1,
        in_call=False,
    )
    queued = view("lab:1", state=CallState.QUEUED)
    calls[:] = [queued]
    monitor.observe(event, [CallQueued(queued, "support")])
    snap = monitor.snapshot(group, {"carol": "Carol Agent"})
    states = {a["username"]: a for a in snap["agents"]}  # type: ignore[union-attr]
    assert states["carol"]["state"] == "ready" and states["carol"]["online"] is True
    assert states["carol"]["name"] == "Carol Agent"
    assert states["dave"]["state"] == "wrapup"  # the PBX's pause reason says wrap-up
    assert [w["call_id"] for w in snap["waiting"]] == ["lab:1"]  # type: ignore[union-attr]
    assert snap["waiting"][0]["since"] == 1050.0  # type: ignore[index]
    assert snap["calls"] == []

    ringing = replace(queued, state=CallState.RINGING, ringing=("PJSIP/1003",))
    calls[:] = [ringing]
    snap = monitor.snapshot(group, {})
    assert snap["agents"][0]["state"] == "ringing"  # type: ignore[index]
    assert [c["ringing"] for c in snap["calls"]] == [["carol"]]  # type: ignore[union-attr]

    answered = replace(
        ringing, state=CallState.ANSWERED, ringing=(), agent="PJSIP/1003", answered_at=1060.0
    )
    calls[:] = [answered]
    monitor.observe(event, [CallAnswered(answered, "PJSIP/1003")])
    snap = monitor.snapshot(group, {})
    assert snap["agents"][0]["state"] == "on_call"  # type: ignore[index]
    assert snap["waiting"] == [] and snap["calls"][0]["agent"] == "carol"  # type: ignore[index]

    ended = replace(answered, state=CallState.ENDED)
    calls[:] = []
    monitor.observe(replace(event, at=1090.0), [CallEnded(ended, None)])
    wrapups["carol"] = (1090.0, 1105.0)  # the agent states started her wrap-up
    snap = monitor.snapshot(group, {})
    carol = snap["agents"][0]  # type: ignore[index]
    assert (carol["state"], carol["since"], carol["until"]) == ("wrapup", 1090.0, 1105.0)
    now[0] = 1106.0
    del wrapups["carol"]  # over (or ended early by her)
    assert monitor.snapshot(group, {})["agents"][0]["state"] == "ready"  # type: ignore[index]

    other = view("lab:2", did="442079460100", queue="sales", ringing=("PJSIP/1001",))
    calls[:] = [other]
    assert monitor.snapshot(group, {})["calls"] == []  # Sales' call is not Support's

    monitor.pop_sent("Support")
    monitor.template_failed("Support", "line 1: boom", "lab:3")
    snap = monitor.snapshot(group, {})
    assert snap["pops_today"] == 1
    assert snap["failures"] == [{"at": 1106.0, "error": "line 1: boom", "call_id": "lab:3"}]
