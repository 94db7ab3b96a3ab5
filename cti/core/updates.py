"""What the call tracker emits: call-level updates, each carrying a snapshot of the call.

Agents are named by endpoint (``PJSIP/1001``) here; the pop service maps endpoints to the
agents who own them. Names are past tense.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cti.core.events import Party
from cti.core.records import CallRecord, Direction

__all__ = [
    "AgentRang",
    "AgentRingEnded",
    "CallAnswered",
    "CallEnded",
    "CallHoldChanged",
    "CallQueued",
    "CallStarted",
    "CallState",
    "CallTransferred",
    "CallUpdate",
    "CallView",
    "RingEndReason",
]


class CallState(StrEnum):
    NEW = "new"  # the first channel exists; nobody rings yet
    QUEUED = "queued"  # waiting in a queue, no member ringing
    RINGING = "ringing"  # at least one agent's (or the far end's) phone rings
    ANSWERED = "answered"
    ENDED = "ended"


class RingEndReason(StrEnum):
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # ringall: another agent took it
    NO_ANSWER = "no_answer"  # ring timeout; a queue moves on
    REJECTED = "rejected"  # the agent's phone declined (busy)
    ABANDONED = "abandoned"  # the caller hung up while it rang
    ENDED = "ended"  # the call ended some other way while ringing


@dataclass(frozen=True, slots=True)
class CallView:
    """A call as it stands after an update; cheap to build, safe to hand to other tasks."""

    call_id: str
    server: str
    direction: Direction
    state: CallState
    caller: Party
    called_number: str
    did: str | None
    trunk: str | None
    queue: str | None
    started_at: float
    answered_at: float | None
    agent: str | None  # the endpoint that has the call now
    ringing: tuple[str, ...]  # endpoints ringing now
    transferred_from: str | None
    originate_id: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A new call exists: time to start the CRM lookup, before any agent rings."""

    call: CallView


@dataclass(frozen=True, slots=True)
class CallQueued:
    call: CallView
    queue: str


@dataclass(frozen=True, slots=True)
class AgentRang:
    """``endpoint`` started ringing for this call: pop the agents who own it."""

    call: CallView
    endpoint: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentRingEnded:
    """``endpoint`` stopped ringing without taking the call."""

    call: CallView
    endpoint: str
    reason: RingEndReason


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call: CallView
    endpoint: str | None  # None when the far end of an outbound call answered


@dataclass(frozen=True, slots=True)
class CallTransferred:
    """The caller moved from one agent to another; the pop and its notes follow."""

    call: CallView
    from_endpoint: str
    to_endpoint: str
    kind: str  # "blind" or "attended"


@dataclass(frozen=True, slots=True)
class CallHoldChanged:
    call: CallView
    held: bool


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over. ``record`` is None for a consultation call merged by a transfer."""

    call: CallView
    record: CallRecord | None


CallUpdate = (
    CallStarted
    | CallQueued
    | AgentRang
    | AgentRingEnded
    | CallAnswered
    | CallTransferred
    | CallHoldChanged
    | CallEnded
)
