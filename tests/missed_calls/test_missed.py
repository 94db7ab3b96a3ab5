"""Which agents miss a finished call (pure): the rung agents of a call nobody answered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from cti.core.events import Party
from cti.core.records import CallRecord, Direction, Outcome
from cti.core.updates import CallEnded, CallState, CallView
from cti.missed_calls import missed_calls_of

OWNERS = {"PJSIP/1001": ("alice",), "PJSIP/1002": ("bob",), "PJSIP/2000": ("alice", "sam")}
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def owners(endpoint: str) -> tuple[str, ...]:
    return OWNERS.get(endpoint, ())


def ended(record: CallRecord | None) -> CallEnded:
    view = CallView(
        "lab:1", "lab", Direction.INBOUND, CallState.ENDED, Party("+442079460001", "Alice"),
        "442079460100", None, None, None, 0.0, None, None, (), None, None, (),
    )  # fmt: skip
    return CallEnded(view, record)


RECORD = CallRecord(
    call_id="lab:1",
    server="lab",
    direction=Direction.INBOUND,
    outcome=Outcome.ABANDONED,
    started_at=T0,
    ended_at=T0,
    caller_number="+442079460001",
    called_number="442079460100",
    caller_name="Alice Archer",
    queue="sales",
    agents_rung=("PJSIP/1001", "PJSIP/1002", "PJSIP/1001"),
)


def test_every_rung_agent_misses_a_call_nobody_answered_once_each() -> None:
    missed = missed_calls_of([ended(RECORD)], owners)
    assert [(m.agent, m.call_id, m.caller_name, m.queue) for m in missed] == [
        ("alice", "lab:1", "Alice Archer", "sales"),
        ("bob", "lab:1", "Alice Archer", "sales"),
    ]


def test_a_call_someone_answered_is_missed_by_no_one() -> None:
    answered = replace(RECORD, answered_by="PJSIP/1002", outcome=Outcome.ANSWERED)
    assert missed_calls_of([ended(answered)], owners) == []


def test_outbound_calls_merged_consultations_and_unknown_phones_are_not_missed() -> None:
    outbound = replace(RECORD, direction=Direction.OUTBOUND)
    unknown = replace(RECORD, agents_rung=("PJSIP/trunk",))
    assert missed_calls_of([ended(outbound), ended(None), ended(unknown)], owners) == []


def test_a_shared_phone_misses_it_for_each_owner_and_internal_calls_count() -> None:
    internal = replace(RECORD, direction=Direction.INTERNAL, agents_rung=("PJSIP/2000",))
    assert [m.agent for m in missed_calls_of([ended(internal)], owners)] == ["alice", "sam"]
