"""Live calls saved by one run and taken back by the next: no record lost, none twice.

Every recorded lab transcript is cut after every event: the calls live at the cut are saved
(:meth:`CallTracker.snapshot`, through JSON as the store keeps them), a fresh tracker takes
them back, and then either the rest of the transcript arrives (the daemon restarted while the
call went on) or the server's listing says the channels are gone (the call ended while the
daemon was down).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cti.core.events import ChannelsListed, PbxEvent
from cti.core.records import CallRecord
from cti.core.snapshot import SnapshotError
from cti.core.tracker import CallTracker
from cti.core.updates import AgentRang, CallAnswered, CallEnded, CallStarted, CallUpdate
from tests.core.test_tracker_resync import _live_channels
from tests.transcript import NAMES, events_of, frames, is_agent


def _records(updates: list[CallUpdate]) -> list[CallRecord]:
    return [u.record for u in updates if isinstance(u, CallEnded) and u.record is not None]


def _restart(tracker: CallTracker) -> tuple[CallTracker, list[CallUpdate]]:
    """What the daemon does across a restart: save every live call, load it in a new run."""
    saved = [tracker.snapshot(view.call_id) for view in tracker.active_calls()]
    stored = json.loads(json.dumps([s for s in saved if s is not None]))
    fresh = CallTracker(is_agent)
    updates: list[CallUpdate] = []
    for data in stored:
        updates += fresh.restore(data)
    return fresh, updates


def _without_restored_flag(record: CallRecord) -> CallRecord:
    return replace(record, flags=tuple(f for f in record.flags if f != "restored"))


@pytest.mark.parametrize("name", NAMES)
def test_a_restart_anywhere_in_a_call_changes_nothing_in_its_record(name: str) -> None:
    events = events_of(frames(name))
    whole = _records(CallTracker(is_agent).feed_all(events))
    for cut in range(1, len(events)):
        first = CallTracker(is_agent)
        before = _records(first.feed_all(events[:cut]))
        live = {view.call_id for view in first.active_calls()}
        second, restored = _restart(first)
        after = _records(restored + second.feed_all(events[cut:]))
        assert [_without_restored_flag(r) for r in before + after] == whole, f"cut at {cut}"
        assert second.active_calls() == []
        assert all(("restored" in r.flags) == (r.call_id in live) for r in after)


@pytest.mark.parametrize("name", NAMES)
def test_calls_that_ended_while_the_daemon_was_down_get_one_flagged_record(name: str) -> None:
    events = events_of(frames(name))
    consultations = {  # merged into the call they transferred: no record of their own
        u.call.call_id
        for u in CallTracker(is_agent).feed_all(events)
        if isinstance(u, CallEnded) and u.record is None
    }
    for cut in range(1, len(events)):
        first = CallTracker(is_agent)
        seen = first.feed_all(events[:cut])
        before = _records(seen)
        started = {u.call.call_id for u in seen if isinstance(u, CallStarted)}
        live = {view.call_id for view in first.active_calls()}
        second, _ = _restart(first)
        listing = ChannelsListed(server="lab", at=events[-1].at, channels=())
        after = _records(second.feed(listing))
        assert sorted(r.call_id for r in after) == sorted(live), f"cut at {cut}"
        # Every call that had begun has its record (a merged consultation has none by design).
        assert started - {r.call_id for r in before + after} <= consultations
        assert len(before + after) == len({r.call_id for r in before + after})
        assert all("vanished" in r.flags and "restored" in r.flags for r in after)
        assert second.active_calls() == []


def test_a_restored_call_pops_again_and_a_listing_that_still_has_it_keeps_it() -> None:
    events: list[PbxEvent] = events_of(frames("direct_answered"))
    answered = next(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
    first = CallTracker(is_agent)
    first.feed_all(events[: answered + 1])
    second, updates = _restart(first)
    assert [type(u) for u in updates] == [CallStarted, CallAnswered]
    assert isinstance(updates[-1], CallAnswered) and updates[-1].endpoint == "PJSIP/1001"
    view = updates[-1].call
    assert second.channels_of(view.call_id) == first.channels_of(view.call_id)

    listing = ChannelsListed(
        server="lab", at=events[answered].at, channels=_live_channels(events[: answered + 1])
    )
    assert second.feed(listing) == []  # nothing vanished, nothing to adopt twice
    assert [c.call_id for c in second.active_calls()] == [view.call_id]


def test_a_ringing_call_rings_its_agents_again_after_a_restart() -> None:
    events = events_of(frames("queue_ringall_second_answers"))
    first = CallTracker(is_agent)
    for event in events:
        if any(isinstance(u, AgentRang) for u in first.feed(event)):
            break
    _, restored = _restart(first)
    assert [type(u) for u in restored][:2] == [CallStarted, AgentRang]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 99},
        {"version": 1, "call_id": "lab:1"},
        [],
        "text",
    ],
)
def test_data_that_is_not_a_snapshot_is_refused(data: object) -> None:
    with pytest.raises(SnapshotError):
        CallTracker(is_agent).restore(data)  # type: ignore[arg-type]


def test_a_call_restored_twice_is_tracked_once() -> None:
    events = events_of(frames("direct_answered"))
    first = CallTracker(is_agent)
    first.feed_all(events[:5])
    (view,) = first.active_calls()
    data = json.loads(json.dumps(first.snapshot(view.call_id)))
    second = CallTracker(is_agent)
    assert second.restore(data)
    assert second.restore(data) == []
    assert len(second.active_calls()) == 1
