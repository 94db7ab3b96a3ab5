"""Resync: calls live at start are adopted; calls that vanished are closed and flagged."""

from __future__ import annotations

from cti.core.events import ChannelCreated, ChannelsListed, ChannelUpdated, ListedChannel, PbxEvent
from cti.core.records import Outcome
from cti.core.tracker import CallTracker
from cti.core.updates import CallAnswered, CallEnded, CallStarted
from pbx_adapters.asterisk.frame import AmiFrame
from tests.transcript import events_of, frames, is_agent


def _live_channels(events: list[PbxEvent]) -> tuple[ListedChannel, ...]:
    """What CoreShowChannels would list after ``events``: live channels, as last seen."""
    latest = {}
    for event in events:
        channel = getattr(event, "channel", None)
        if isinstance(event, ChannelCreated | ChannelUpdated) and channel is not None:
            latest[channel.uniqueid] = channel
        elif type(event).__name__ == "ChannelHungUp" and channel is not None:
            latest.pop(channel.uniqueid, None)
    return tuple(
        ListedChannel(channel=c, bridge_id="", application="", duration_seconds=2.0)
        for c in latest.values()
    )


def test_a_call_answered_before_the_daemon_started_is_adopted_and_recorded_once() -> None:
    events = events_of(frames("direct_answered"))
    answered_at = next(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
    before, after = events[: answered_at + 2], events[answered_at + 2 :]

    tracker = CallTracker(is_agent)  # a daemon starting now: it saw nothing of `before`
    listed = ChannelsListed(server="lab", at=before[-1].at, channels=_live_channels(before))
    updates = tracker.feed(listed)
    # It never rang while the daemon watched: no AgentRang; the pop service pops on answer.
    assert [type(u) for u in updates] == [CallStarted, CallAnswered]
    assert updates[-1].call.agent == "PJSIP/1001"
    assert "adopted" in updates[-1].call.flags

    ended = [u for u in tracker.feed_all(after) if isinstance(u, CallEnded)]
    assert len(ended) == 1 and ended[0].record is not None
    assert ended[0].record.outcome is Outcome.ANSWERED
    assert ended[0].record.answered_by == "PJSIP/1001"
    assert tracker.active_calls() == []


def test_calls_whose_channels_vanished_across_a_cut_are_closed_and_flagged() -> None:
    events = events_of(frames("direct_answered"))
    answered_at = next(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
    tracker = CallTracker(is_agent)
    tracker.feed_all(events[: answered_at + 2])
    assert len(tracker.active_calls()) == 1

    # Reconnected to an Asterisk that restarted meanwhile: it lists no channel at all.
    updates = tracker.feed(ChannelsListed(server="lab", at=events[-1].at, channels=()))
    ended = [u for u in updates if isinstance(u, CallEnded)]
    assert len(ended) == 1 and ended[0].record is not None
    assert "vanished" in ended[0].record.flags
    assert ended[0].record.outcome is Outcome.ANSWERED
    assert tracker.active_calls() == []
    # The hangups Asterisk may still send for those channels change nothing.
    later = tracker.feed_all(events[answered_at + 2 :])
    assert [u for u in later if isinstance(u, CallEnded)] == []


def test_a_resync_that_lists_the_same_channels_changes_nothing() -> None:
    events = events_of(frames("queue_ringall_second_answers"))
    half = len(events) // 2
    tracker = CallTracker(is_agent)
    tracker.feed_all(events[:half])
    listed = ChannelsListed(
        server="lab", at=events[half].at, channels=_live_channels(events[:half])
    )
    assert tracker.feed(listed) == []
    ended = [u for u in tracker.feed_all(events[half:]) if isinstance(u, CallEnded)]
    assert len(ended) == 1 and ended[0].record is not None
    assert ended[0].record.answered_by == "PJSIP/1002"


def test_a_call_cut_by_a_pbx_shutdown_is_flagged_and_others_are_not() -> None:
    """On ``core restart now`` Asterisk sends SoftHangupRequest with Cause 4 for every channel
    before its Hangups (seen in fault drill 2). The recorded call's own SoftHangupRequest (the
    dialplan's, another cause) is turned into that to stand for a restart."""
    plain = frames("direct_answered")
    shutdown = [
        AmiFrame(tuple((k, "4" if k == "Cause" else v) for k, v in frame))
        if frame.as_dict().get("Event") == "SoftHangupRequest"
        else frame
        for frame in plain
    ]
    assert shutdown != plain
    for source, flagged in ((plain, False), (shutdown, True)):
        updates = CallTracker(is_agent).feed_all(events_of(source))
        [record] = [u.record for u in updates if isinstance(u, CallEnded) and u.record]
        assert ("pbx_shutdown" in record.flags) is flagged
        assert record.outcome is Outcome.ANSWERED


def test_a_click_to_dial_found_at_a_resync_keeps_who_dialled_what() -> None:
    """Drill 6 found adopted click-to-dial records with no called number and the trunk's
    outbound caller id as the caller: the listing still says both."""
    events = events_of(frames("click_to_dial"))
    bridged = max(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
    before, after = events[: bridged + 1], events[bridged + 1 :]
    tracker = CallTracker(is_agent)  # started during the call: it saw none of `before`
    tracker.feed(ChannelsListed(server="lab", at=before[-1].at, channels=_live_channels(before)))
    [record] = [u.record for u in tracker.feed_all(after) if isinstance(u, CallEnded) and u.record]
    assert record.caller_number == "1001"
    assert record.called_number == "+442079460555"
    assert "adopted" in record.flags
