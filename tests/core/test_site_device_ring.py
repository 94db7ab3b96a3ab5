"""A desk phone and a device added by MAC ringing for one call ring the agent once.

The lab transcripts with two phones ringing (a ringall queue, ``sales``: 1001 and 1002) are
replayed with 1002's channels renamed to a site device, ``PJSIP/d001565aa0001``, of the agent
behind 1001: the same AMI, as Asterisk sends it when the queue rings 1001's desk phone and the
device (its own queue member). Given the directory's ``phone_of`` the tracker counts both as
1001: one ``AgentRang``, the answer on the device is 1001's, and no "answered elsewhere".
"""

from __future__ import annotations

from cti.core.events import PbxEvent
from cti.core.records import Outcome
from cti.core.tracker import CallTracker
from cti.core.updates import AgentRang, AgentRingEnded, CallEnded, CallUpdate, RingEndReason
from cti.services import phone_aliases
from pbx_adapters.asterisk.frame import AmiFrame
from tests.core.test_tracker_transcripts import summary
from tests.transcript import events_of, frames

DESK, DEVICE = "PJSIP/1001", "PJSIP/d001565aa0001"
OWNERS = {DESK: "alice", DEVICE: "alice", "PJSIP/1002": "bob"}


def _as_device(name: str) -> list[PbxEvent]:
    """Transcript ``name`` with 1002's channels (``PJSIP/1002-0000...``) being the device's."""
    renamed = [
        AmiFrame([(k, v.replace("PJSIP/1002", DEVICE)) for k, v in frame]) for frame in frames(name)
    ]
    return events_of(renamed)


def _tracker(aliases: dict[str, str]) -> CallTracker:
    return CallTracker(lambda endpoint: endpoint in OWNERS, lambda e: aliases.get(e, e))


def _run(name: str, aliases: dict[str, str]) -> list[CallUpdate]:
    return _tracker(aliases).feed_all(_as_device(name))


def test_the_directory_maps_a_device_to_its_agents_own_endpoint() -> None:
    owners = {**OWNERS, "PJSIP/d0004f2000009": "nobody-else", "PJSIP/dnotadevice01": "x"}
    assert phone_aliases(owners) == {DEVICE: DESK}  # a user with no endpoint keeps the device


def test_desk_phone_and_device_ringing_for_one_queue_call_ring_the_agent_once() -> None:
    updates = _run("queue_ringall_second_answers", phone_aliases(OWNERS))
    assert [summary(u) for u in updates] == [
        ("started", "inbound", "new"),
        ("queued", "sales", "queued"),
        ("rang", DESK, "ringing"),  # the device rang first: the agent's one ring
        ("answered", DESK, "answered"),  # picked up on the device: 1001 answered
        ("ended", "answered"),
    ]
    record = next(u for u in updates if isinstance(u, CallEnded)).record
    assert record is not None and record.outcome is Outcome.ANSWERED
    assert (record.answered_by, record.agents_rung) == (DESK, (DESK,))


def test_nobody_answering_ends_the_agents_ring_once() -> None:
    updates = _run("queue_abandoned", phone_aliases(OWNERS))
    assert [u.endpoint for u in updates if isinstance(u, AgentRang)] == [DESK]
    ended = [u for u in updates if isinstance(u, AgentRingEnded)]
    assert [(u.endpoint, u.reason) for u in ended] == [(DESK, RingEndReason.ABANDONED)]


def test_without_the_mapping_the_device_is_a_phone_of_its_own() -> None:
    """What the tracker did before: two rings, and the desk phone "answered elsewhere"."""
    updates = _run("queue_ringall_second_answers", {})
    assert [u.endpoint for u in updates if isinstance(u, AgentRang)] == [DEVICE, DESK]
    assert [(u.endpoint, u.reason) for u in updates if isinstance(u, AgentRingEnded)] == [
        (DESK, RingEndReason.ANSWERED_ELSEWHERE)
    ]
