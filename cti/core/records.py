"""The call record written once per call when it ends, and the values it is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["CallRecord", "CrmMatch", "Direction", "Outcome"]


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller hung up while queued or ringing
    MISSED = "missed"  # rang agents, nobody answered, the PBX gave up (timeout, no agents)
    BUSY = "busy"
    FAILED = "failed"  # congestion, unavailable channel, originate failure


@dataclass(frozen=True, slots=True)
class CrmMatch:
    """One CRM record the caller was matched to, as ``(system, object type, id)``."""

    system: str
    object_type: str
    record_id: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """Everything the CRM is told about one finished call.

    ``call_id`` is stable across retries and restarts (``server:linkedid``): CRM connectors are
    idempotent on it. Times are timezone-aware UTC.
    """

    call_id: str
    server: str
    direction: Direction
    outcome: Outcome
    started_at: datetime
    ended_at: datetime
    caller_number: str
    called_number: str
    caller_name: str = ""
    answered_at: datetime | None = None
    did: str | None = None
    trunk: str | None = None
    queue: str | None = None
    wait_seconds: float | None = None
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    agents_rung: tuple[str, ...] = ()
    answered_by: str | None = None
    notes: str = ""
    disposition: str | None = None
    matches: tuple[CrmMatch, ...] = ()
    flags: tuple[str, ...] = field(default=())
    # The access-number interaction the call answered (docs/access-numbers.md): ("id", ...)
    # first, then what the app said (who, intent, order, page), as (name, text) pairs.
    interaction: tuple[tuple[str, str], ...] = field(default=())
    # Links to the call's recordings (cti.recording), one per recorded agent leg, in the order
    # they started: absolute URLs that play the file to a signed-in user allowed to hear it.
    recordings: tuple[str, ...] = field(default=())

    @property
    def duration_seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()
