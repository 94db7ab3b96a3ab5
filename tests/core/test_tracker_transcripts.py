"""The call tracker on the real lab transcripts: every update of every call, in order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.core.events import ChannelCreated, ChannelHungUp
from cti.core.records import Direction, Outcome
from cti.core.tracker import CallTracker
from cti.core.updates import (
    AgentRang,
    AgentRingEnded,
    CallAnswered,
    CallEnded,
    CallHoldChanged,
    CallQueued,
    CallStarted,
    CallTransferred,
    CallUpdate,
    RingEndReason,
)
from tests.transcript import NAMES, chunked, events_of, frames, is_agent, updates_of, wire

A1, A2 = "PJSIP/1001", "PJSIP/1002"


def summary(update: CallUpdate) -> tuple[str, ...]:
    """One line per update: what happened, to whom, and the call's state after it."""
    call = update.call
    match update:
        case AgentRang(endpoint=endpoint):
            return ("rang", endpoint, call.state)
        case AgentRingEnded(endpoint=endpoint, reason=reason):
            return ("ring_ended", endpoint, reason, call.state)
        case CallAnswered(endpoint=endpoint):
            return ("answered", endpoint or "far end", call.state)
        case CallTransferred(from_endpoint=src, to_endpoint=dst, kind=kind):
            return ("transferred", f"{src}->{dst}", kind)
        case CallHoldChanged(held=held):
            return ("held" if held else "resumed", call.agent or "")
        case CallQueued(queue=queue):
            return ("queued", queue, call.state)
        case CallStarted():
            return ("started", call.direction, call.state)
        case CallEnded(record=record):
            return ("ended", record.outcome if record else "merged")
    raise AssertionError(update)


EXPECTED: dict[str, list[tuple[str, ...]]] = {
    "direct_answered": [
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("answered", A1, "answered"),
        ("ended", "answered"),
    ],
    "direct_not_answered": [
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("ring_ended", A1, "no_answer", "new"),
        ("ended", "missed"),
    ],
    "busy": [
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("ring_ended", A1, "rejected", "new"),
        ("ended", "busy"),
    ],
    "queue_ringall_second_answers": [
        ("started", "inbound", "new"),
        ("queued", "sales", "queued"),
        ("rang", A2, "ringing"),
        ("rang", A1, "ringing"),
        ("answered", A2, "answered"),
        ("ring_ended", A1, "answered_elsewhere", "answered"),
        ("ended", "answered"),
    ],
    "queue_abandoned": [
        ("started", "inbound", "new"),
        ("queued", "sales", "queued"),
        ("rang", A2, "ringing"),
        ("rang", A1, "ringing"),
        ("ring_ended", A2, "abandoned", "ringing"),
        ("ring_ended", A1, "abandoned", "queued"),
        ("ended", "abandoned"),
    ],
    # The Queue app's timeout: to the call tracker a caller who was never answered is abandoned
    # (the reports tell a timeout apart, by the missing HangupRequest: cti.reports.facts).
    "queue_timeout": [
        ("started", "inbound", "new"),
        ("queued", "sales", "queued"),
        ("rang", A2, "ringing"),
        ("rang", A1, "ringing"),
        ("ring_ended", A2, "no_answer", "ringing"),
        ("ring_ended", A1, "no_answer", "queued"),
        ("ended", "abandoned"),
    ],
    "queue_login_pause_logout": [],  # queue membership only: no call, no update
    "blind_transfer": [
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("answered", A1, "answered"),
        ("rang", A2, "ringing"),
        ("answered", A2, "answered"),
        ("transferred", f"{A1}->{A2}", "blind"),
        ("ended", "answered"),
    ],
    "attended_transfer": [
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("answered", A1, "answered"),
        ("held", A1),
        ("started", "outbound", "new"),  # 1001's consultation call ...
        ("rang", A2, "ringing"),  # ... rings 1002 (now an internal call)
        ("answered", A2, "answered"),
        ("resumed", A1),
        ("answered", A2, "answered"),  # the caller's call: 1002 takes over
        ("transferred", f"{A1}->{A2}", "attended"),
        ("ended", "merged"),  # the consultation call, merged into the caller's
        ("ended", "answered"),
    ],
    "desktop_attended_transfer": [  # AMI Atxfer: the consultation is on the caller's call
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("answered", A1, "answered"),
        ("held", A1),
        ("rang", A2, "answered"),  # the colleague rings: still 1001's call
        ("answered", A2, "answered"),  # 1001 and 1002 talk; nothing is transferred yet
        ("transferred", f"{A1}->{A2}", "attended"),  # 1001 hung up: AttendedTransfer
        ("ended", "answered"),
    ],
    "desktop_attended_transfer_with_target": [  # the same; AttendedTransfer names Local;1
        ("started", "inbound", "new"),
        ("rang", A1, "ringing"),
        ("answered", A1, "answered"),
        ("held", A1),
        ("rang", A2, "answered"),
        ("answered", A2, "answered"),
        ("transferred", f"{A1}->{A2}", "attended"),
        ("ended", "answered"),
    ],
    "click_to_dial": [
        ("started", "outbound", "new"),
        ("rang", A1, "ringing"),  # the agent's own phone rings first
        ("answered", "far end", "answered"),
        ("ended", "answered"),
    ],
}


@pytest.mark.parametrize("name", NAMES)
def test_updates_of_each_transcript(name: str) -> None:
    updates, tracker = updates_of(frames(name))
    assert [summary(u) for u in updates] == EXPECTED[name]
    assert tracker.active_calls() == []
    assert tracker.anomalies == 0


def _record(name: str):  # type: ignore[no-untyped-def]
    updates, _ = updates_of(frames(name))
    records = [u.record for u in updates if isinstance(u, CallEnded) and u.record]
    assert len(records) == 1, "exactly one record per call"
    return records[0]


def test_record_of_a_queue_call_answered_by_the_second_agent() -> None:
    record = _record("queue_ringall_second_answers")
    assert record.outcome is Outcome.ANSWERED
    assert record.direction is Direction.INBOUND
    assert (record.caller_number, record.caller_name) == ("+442079460001", "Ada Lovelace")
    assert (record.did, record.called_number, record.trunk) == ("442079460100",) * 2 + (
        "lab-trunk",
    )
    assert record.queue == "sales"
    assert record.answered_by == A2
    assert set(record.agents_rung) == {A1, A2}
    assert record.wait_seconds is not None and 0.9 < record.wait_seconds < 2.0  # answered after 1 s
    assert 1.5 < record.talk_seconds < 3.0  # the caller hung up after 2 s
    assert (
        record.answered_at is not None and record.started_at < record.answered_at < record.ended_at
    )


def test_record_of_an_abandoned_queue_call() -> None:
    record = _record("queue_abandoned")
    assert record.outcome is Outcome.ABANDONED
    assert record.answered_by is None and record.answered_at is None
    assert record.wait_seconds is not None and 2.5 < record.wait_seconds < 4.0
    assert record.talk_seconds == 0


def test_records_of_transfers_name_the_final_agent_and_the_hold_time() -> None:
    blind = _record("blind_transfer")
    attended = _record("attended_transfer")
    assert blind.answered_by == attended.answered_by == A2
    assert blind.agents_rung == attended.agents_rung == (A1, A2)
    assert "blind_transfer:PJSIP/1001->1002" in blind.flags
    assert attended.hold_seconds > 0.3  # 1001 held the caller while consulting 1002
    assert blind.hold_seconds == 0


def test_a_desktop_attended_transfer_moves_the_call_only_when_completed() -> None:
    updates, _ = updates_of(frames("desktop_attended_transfer"))
    consult_answered = next(
        i for i, u in enumerate(updates) if summary(u) == ("answered", A2, "answered")
    )
    assert updates[consult_answered].call.agent == A1  # consulting: the caller is still 1001's
    transferred = next(i for i, u in enumerate(updates) if summary(u)[0] == "transferred")
    assert transferred > consult_answered and updates[transferred].call.agent == A2
    record = _record("desktop_attended_transfer")
    assert record.answered_by == A2 and record.agents_rung == (A1, A2)
    assert "attended_transfer:PJSIP/1001->PJSIP/1002" in record.flags
    assert 0.5 < record.hold_seconds < 5  # held while consulting, not until the end


def test_a_consultation_the_colleague_hangs_up_leaves_the_call_with_the_agent() -> None:
    events = events_of(frames("desktop_attended_transfer"))
    tracker = CallTracker(is_agent)
    for event in events:
        updates = tracker.feed(event)
        if any(summary(u) == ("answered", A2, "answered") for u in updates):
            break
    colleague = next(
        e.channel for e in events if isinstance(e, ChannelCreated) and e.channel.endpoint == A2
    )
    hangup = ChannelHungUp(
        server="lab", at=event.at + 1, channel=colleague, cause=16, cause_text="Normal Clearing"
    )
    [ended] = tracker.feed(hangup)
    assert isinstance(ended, AgentRingEnded) and ended.endpoint == A2  # 1002's pop goes away
    assert ended.reason is RingEndReason.ENDED and ended.call.agent == A1


def test_record_of_click_to_dial_is_outbound_from_the_agent() -> None:
    record = _record("click_to_dial")
    assert record.direction is Direction.OUTBOUND
    assert record.caller_number == "1001"
    assert record.called_number == "+442079460555"
    assert record.answered_by == A1
    assert record.trunk == "lab-trunk"
    assert record.did is None


@pytest.mark.parametrize("name", ["busy", "direct_not_answered"])
def test_unanswered_direct_calls(name: str) -> None:
    record = _record(name)
    assert record.outcome is {"busy": Outcome.BUSY, "direct_not_answered": Outcome.MISSED}[name]
    assert record.agents_rung == (A1,)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(NAMES))
def test_chunking_the_stream_never_changes_the_updates(data: st.DataObject, name: str) -> None:
    raw = wire(name)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=60))
    expected, _ = updates_of(frames(name))
    got, _ = updates_of(chunked(raw, cuts))
    assert got == expected


def test_two_calls_interleaved_are_tracked_apart() -> None:
    """Two scenarios whose events interleave (one call starts while the other rings)."""
    first, second = frames("queue_abandoned")[1:], frames("direct_answered")[1:]
    mixed = [f for pair in zip(first, second, strict=False) for f in pair]
    mixed += first[len(second) :] + second[len(first) :]
    updates, tracker = updates_of(mixed)
    ends = {
        u.call.call_id: u.record.outcome for u in updates if isinstance(u, CallEnded) and u.record
    }
    assert sorted(ends.values()) == [Outcome.ABANDONED, Outcome.ANSWERED]
    assert tracker.active_calls() == []
