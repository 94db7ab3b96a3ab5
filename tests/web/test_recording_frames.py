"""The ``recording`` websocket frame (agent_ui.messages.recording, sent by the Notifier for
cti.recording): its shape, what it refuses, and its delivery to every tab of the agent only, live
(not numbered, not replayed) through a real AgentHub; and RecordingService.recent, the
supervisor's list of a group's latest recordings (newest first, limit, who may ask)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent_ui import messages
from agent_ui.hub import AgentHub
from agent_ui.notifier import Notifier
from cti.errors import NotFound, PermissionDenied
from cti.principal import Principal, Role
from cti.recording import rows
from cti.recording.rows import RecordingRow
from cti.store.values import GroupSpec
from tests.hub.fakes import FakeSender
from tests.recording.harness import harness

ALICE = Principal("alice", "Alice", Role.AGENT)
BOB = Principal("bob", "Bob", Role.AGENT)
SAM = Principal("sam", "Sam", Role.SUPERVISOR)
SUE = Principal("sue", "Sue", Role.SUPERVISOR)
ROOT = Principal("root", "Root", Role.ADMIN)
STATE = {"call_id": "lab:1.2", "recording": "rec-1-2-1-3", "policy": "demand"}


def test_the_frame_carries_the_indicator_s_fields_only() -> None:
    frame = messages.recording({"event": "paused", "paused": True, **STATE, "channel": "PJSIP/x"})
    assert frame.type == "recording"
    assert frame.data == {"event": "paused", "paused": True, **STATE}  # no channel name leaks


@pytest.mark.parametrize(
    "data",
    [
        {"event": "muted", "paused": True, **STATE},
        {"event": "started", "paused": "yes", **STATE},
        {"event": "ended", "paused": False, **{**STATE, "call_id": None}},
        {"event": "started", "paused": False},
    ],
)
def test_a_malformed_frame_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="recording frame"):
        messages.recording(data)


async def test_every_tab_of_the_agent_gets_it_live_and_no_one_else() -> None:
    hub = AgentHub(lambda agent: [])
    tabs = {name: FakeSender() for name in ("alice-1", "alice-2", "bob")}
    conns = [hub.open(ALICE, tabs["alice-1"], last_seq=None)]
    conns.append(hub.open(ALICE, tabs["alice-2"], last_seq=None))
    conns.append(hub.open(BOB, tabs["bob"], last_seq=None))
    writers = [asyncio.create_task(conn.run()) for conn in conns]
    Notifier(hub).recording("alice", {"event": "started", "paused": True, **STATE})
    Notifier(hub).recording("alice", {"event": "resumed", "paused": False, **STATE})
    await asyncio.sleep(0.05)
    for tab in ("alice-1", "alice-2"):
        frames = [f for f in tabs[tab].frames if f["type"] == "recording"]
        assert [(f["data"]["event"], f["data"]["paused"]) for f in frames] == [
            ("started", True),
            ("resumed", False),
        ]
        assert {f["seq"] for f in frames} == {0}  # live: takes no seq, so never replayed
    assert "recording" not in tabs["bob"].types()
    late = FakeSender()
    writers.append(asyncio.create_task(hub.open(ALICE, late, last_seq=0, epoch=hub.epoch).run()))
    await asyncio.sleep(0.05)
    assert "recording" not in late.types()
    for writer in writers:
        writer.cancel()


async def test_recent_lists_the_group_s_latest_first_for_its_supervisors(tmp_path: Path) -> None:
    rig = harness(tmp_path)
    rig.store.create_group(GroupSpec(name="Support"))  # an admin reaches existing groups only
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with rig.store.writing("seed") as conn:
        for i in range(5):
            group = "Sales" if i != 2 else "Support"
            rows.insert_recording(
                conn,
                RecordingRow(
                    f"rec-{i}",
                    f"lab:{i}",
                    "lab",
                    "alice",
                    group,
                    start + timedelta(minutes=i),
                    None,
                    (),
                    None,
                ),
            )
    got = await rig.service.recent(SAM, "Sales", limit=3)
    assert [row.id for row in got] == ["rec-4", "rec-3", "rec-1"]  # newest first, Sales only
    assert [row.id for row in await rig.service.recent(ROOT, "Support")] == ["rec-2"]
    with pytest.raises(PermissionDenied):
        await rig.service.recent(SUE, "Sales")  # supervises another group
    with pytest.raises(PermissionDenied):
        await rig.service.recent(ALICE, "Sales")  # an agent
    with pytest.raises(NotFound):
        await rig.service.recent(ROOT, "Nowhere")
    rig.store.close()
