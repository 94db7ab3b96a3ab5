"""Build the :class:`CallRecord` of a call that just ended, from the tracker's working state."""

from __future__ import annotations

from datetime import UTC, datetime

from cti.core.calls import TrackedCall
from cti.core.records import CallRecord, Direction, Outcome

__all__ = ["build_record", "outcome_of"]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def outcome_of(call: TrackedCall) -> Outcome:
    """Answered beats everything; then what the caller did; then what the PBX said."""
    if call.answered_at is not None:
        return Outcome.ANSWERED
    if call.abandoned:
        return Outcome.ABANDONED
    if call.hint is not None:
        return call.hint
    return Outcome.MISSED if call.direction is Direction.INBOUND else Outcome.FAILED


def build_record(call: TrackedCall) -> CallRecord:
    """Return the record of ``call`` (ended); agents are endpoints until the pop layer maps them."""
    ended = call.ended_at if call.ended_at is not None else call.started_at
    answered = call.answered_at
    wait = None  # from arrival (or joining the queue) to answer, or to the end if unanswered
    if call.direction is Direction.INBOUND:
        waited_from = call.queued_at if call.queued_at is not None else call.started_at
        wait = (answered if answered is not None else ended) - waited_from
    talk = max(0.0, ended - answered - call.hold_seconds) if answered is not None else 0.0
    called = call.called_number or (call.did or "")
    return CallRecord(
        call_id=call.call_id,
        server=call.server,
        direction=call.direction,
        outcome=outcome_of(call),
        started_at=_utc(call.started_at),
        ended_at=_utc(ended),
        answered_at=_utc(answered) if answered is not None else None,
        caller_number=call.caller.number,
        caller_name=call.caller.name,
        called_number=called,
        did=call.did,
        trunk=call.trunk,
        queue=call.queue,
        wait_seconds=round(wait, 3) if wait is not None else None,
        talk_seconds=round(talk, 3),
        hold_seconds=round(call.hold_seconds, 3),
        agents_rung=tuple(call.rung),
        answered_by=call.agent if answered is not None else None,
        flags=tuple(call.flags),
    )
