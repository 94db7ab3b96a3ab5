"""Turn normalized PBX events and call records into the facts reports count (pure, no I/O).

Fed on the AMI read path beside the call tracker, :class:`FactTracker` keeps a little state per
queue caller and per queue member and returns finished facts:

- :class:`QueueVisit`: one caller's stay in one queue, decided when it is over. Asterisk sends
  ``QueueCallerLeave`` *before* ``AgentConnect`` (app_queue leaves the queue, then bridges), so
  a leave alone does not say how the visit ended: an ``AgentComplete`` closes it as answered
  (with the talk time), a ``QueueCallerAbandon`` marks it abandoned (position and wait as
  Asterisk counted them), and the caller's hangup or next queue closes any other visit as
  ``exited``: it left on the queue's timeout (or an exit key, or an empty queue). Asterisk 22
  sends ``QueueCallerAbandon`` on the queue's timeout too (app_queue's ``record_abandoned``,
  while its queue_log says EXITWITHTIMEOUT): only a caller who hung up (``HangupRequest``
  first, for the CANCEL or BYE) abandoned; the others left on the timeout, with that wait.
- :class:`RingNoAnswer`: a member rang for a queue caller and did not answer (AgentRingNoAnswer).
- :class:`Transfer`: an agent transferred a call (BlindTransfer, AttendedTransfer).
- :class:`Span`: a stretch of time an agent spent logged in (QueueMemberAdded to
  QueueMemberRemoved from their last queue) or paused (with the reason; ``wrap-up`` is the
  agent-state service's wrap-up), closed when it ends.
- :class:`CallDone`: a call record (direction, DID, trunk, who answered, talk time), for the
  DID, trunk and outbound figures, and the agents' calls: every agent who answered a leg of
  it (``CallAnswered``: a transferred call counts for the agent who took it first and the one
  it went to, as Asterisk's CDR has a row for each), each with the talk from their answer to
  the next agent's (or the end).

Agents are named by ``agent_name(endpoint)`` (the directory's owner of a phone), so a queue
member ``PJSIP/1001`` and a record's ``answered_by`` count for the same person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti.core.events import (
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    AttendedTransferred,
    BlindTransferred,
    ChannelHungUp,
    HangupRequested,
    PbxEvent,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueMemberChanged,
    QueueMemberRemoved,
    endpoint_of,
)
from cti.core.records import CallRecord, Direction
from cti.core.updates import CallAnswered, CallEnded, CallUpdate

__all__ = [
    "CallDone",
    "Fact",
    "FactTracker",
    "QueueVisit",
    "RingNoAnswer",
    "Span",
    "Transfer",
    "VisitOutcome",
]

VisitOutcome = str  # "answered", "abandoned", "exited"


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """One caller's stay in ``queue``, counted in the interval it joined (``joined_at``)."""

    queue: str
    joined_at: float
    position: int
    outcome: VisitOutcome
    wait_s: float  # until answered, abandoned or exited
    agent: str | None = None  # who answered
    talk_s: float = 0.0  # Asterisk's TalkTime: connect to completion, hold included
    did: str | None = None
    trunk: str | None = None


@dataclass(frozen=True, slots=True)
class RingNoAnswer:
    queue: str
    agent: str
    at: float


@dataclass(frozen=True, slots=True)
class Transfer:
    agent: str
    queue: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Span:
    """``agent`` was logged in (``kind`` "login") or paused ("pause", with ``reason``)."""

    kind: str
    agent: str
    start: float
    end: float
    reason: str = ""
    queue: str | None = None  # for a wrap-up: the queue of the call it followed


@dataclass(frozen=True, slots=True)
class CallDone:
    """A finished call's record, reduced to what reports count."""

    started_at: float
    outbound: bool
    answered: bool
    agent: str | None
    did: str | None
    trunk: str | None
    queue: str | None
    talk_s: float
    handled: tuple[tuple[str, float], ...] = ()  # (agent, talk seconds) per answered agent leg


Fact = QueueVisit | RingNoAnswer | Transfer | Span | CallDone


@dataclass(slots=True)
class _Visit:
    queue: str
    joined_at: float
    position: int
    did: str | None
    trunk: str | None
    abandoned_wait: float | None = None
    caller_left: bool = False  # the caller hung up (HangupRequest) while in the queue
    timed_out: bool = False  # QueueCallerAbandon without the caller hanging up: the timeout
    agent: str | None = None
    wait_s: float = 0.0
    left_at: float | None = None


@dataclass(slots=True)
class _Member:
    queues: set[str] = field(default_factory=set)
    login_at: float | None = None
    paused_at: float | None = None
    reason: str = ""


class FactTracker:
    """Keep what is needed to decide each fact; :meth:`feed` returns the facts now decided."""

    def __init__(self, agent_name: Callable[[str], str]) -> None:
        self._agent_name = agent_name
        self._visits: dict[str, _Visit] = {}  # caller's uniqueid -> its open queue visit
        self._members: dict[str, _Member] = {}  # agent name -> their queue membership
        self._last_queue: dict[str, str] = {}  # agent -> queue of the last call they completed
        self._legs: dict[str, list[tuple[str, float]]] = {}  # call id -> (agent, answered at)
        self._handlers: dict[type[PbxEvent], Callable[[Any], list[Fact]]] = {
            QueueCallerJoined: self._joined,
            QueueCallerAbandoned: self._abandoned,
            AgentConnected: self._connected,
            AgentCompleted: self._completed,
            AgentRingNoAnswer: self._ring_no_answer,
            ChannelHungUp: lambda e: self._close(e.channel.uniqueid, e.at),
            HangupRequested: self._caller_left,
            BlindTransferred: lambda e: self._transfer(e.transferer.name, e.at),
            AttendedTransferred: lambda e: self._transfer(e.orig_transferer.name, e.at),
            QueueMemberChanged: self._member_changed,
            QueueMemberRemoved: self._member_removed,
        }

    def _agent(self, interface: str) -> str:
        return self._agent_name(endpoint_of(interface))

    def feed(self, event: PbxEvent) -> list[Fact]:
        """Return the facts ``event`` decides (most events decide none)."""
        handler = self._handlers.get(type(event))
        return handler(event) if handler is not None else []

    def call_update(self, update: CallUpdate, at: float) -> list[Fact]:
        """Note an agent answering a leg of a call; return the fact of a finished call."""
        if isinstance(update, CallAnswered) and update.endpoint is not None:
            agent = self._agent_name(update.endpoint)
            legs = self._legs.setdefault(update.call.call_id, [])
            if not legs or legs[-1][0] != agent:
                legs.append((agent, at))
        elif isinstance(update, CallEnded):
            legs = self._legs.pop(update.call.call_id, [])
            if update.record is not None:
                return self.record(update.record, legs)
        return []

    def record(self, record: CallRecord, legs: list[tuple[str, float]] | None = None) -> list[Fact]:
        """Return the fact of a finished call's record (``legs``: who answered it, when)."""
        agent = self._agent_name(record.answered_by) if record.answered_by else None
        legs = legs or []
        ends = [at for _, at in legs[1:]] + [record.ended_at.timestamp()]
        handled = tuple(
            (who, round(max(0.0, until - since), 3))
            for (who, since), until in zip(legs, ends[: len(legs)], strict=True)
        )
        return [
            CallDone(
                started_at=record.started_at.timestamp(),
                outbound=record.direction is Direction.OUTBOUND,
                answered=record.answered_at is not None,
                agent=agent,
                did=record.did,
                trunk=record.trunk,
                queue=record.queue,
                talk_s=record.talk_seconds,
                handled=handled,
            )
        ]

    def checkpoint(self, at: float) -> list[Fact]:
        """Close the open logins and pauses up to ``at`` (and reopen them from there).

        Called before each write, so today's reports count agents still logged in or paused.
        """
        facts: list[Fact] = []
        for agent, member in self._members.items():
            if member.login_at is not None and at > member.login_at:
                facts.append(Span("login", agent, member.login_at, at))
                member.login_at = at
            if member.paused_at is not None and at > member.paused_at:
                reason = member.reason
                facts.append(
                    Span("pause", agent, member.paused_at, at, reason, self._last_queue.get(agent))
                )
                member.paused_at = at
        return facts

    # ---------------------------------------------------------------------------- queue calls
    def _joined(self, event: QueueCallerJoined) -> list[Fact]:
        facts = self._close(event.channel.uniqueid, event.at)  # moved on from another queue
        channel = event.channel
        self._visits[channel.uniqueid] = _Visit(
            event.queue, event.at, event.position, channel.did, channel.trunk
        )
        return facts

    def _caller_left(self, event: HangupRequested) -> list[Fact]:
        visit = self._visits.get(event.channel.uniqueid)
        if visit is not None:
            visit.caller_left = True
        return []

    def _abandoned(self, event: QueueCallerAbandoned) -> list[Fact]:
        visit = self._visits.get(event.channel.uniqueid)
        if visit is not None:
            visit.abandoned_wait = event.hold_seconds
            visit.timed_out = not visit.caller_left
        return []

    def _connected(self, event: AgentConnected) -> list[Fact]:
        visit = self._visits.get(event.caller.uniqueid)
        if visit is not None:
            visit.agent = self._agent(event.interface or event.agent.name)
            visit.wait_s = event.hold_seconds
        return []

    def _ring_no_answer(self, event: AgentRingNoAnswer) -> list[Fact]:
        agent = self._agent(event.interface or event.agent.name)
        return [RingNoAnswer(event.queue, agent, event.at)]

    def _completed(self, event: AgentCompleted) -> list[Fact]:
        visit = self._visits.pop(event.caller.uniqueid, None)
        agent = self._agent(event.interface or event.agent.name)
        self._last_queue[agent] = event.queue
        if visit is None:
            return []
        return [
            QueueVisit(
                visit.queue,
                visit.joined_at,
                visit.position,
                "answered",
                visit.wait_s,
                agent,
                event.talk_seconds,
                visit.did,
                visit.trunk,
            )
        ]

    def _close(self, uniqueid: str, at: float) -> list[Fact]:
        """The caller hung up or moved on: close a visit no agent answered."""
        visit = self._visits.pop(uniqueid, None)
        if visit is None:
            return []
        if visit.agent is not None:  # connected, hung up before AgentComplete came: answered
            outcome, wait = "answered", visit.wait_s
        elif visit.abandoned_wait is not None:
            outcome = "exited" if visit.timed_out else "abandoned"
            wait = visit.abandoned_wait
        else:
            outcome, wait = "exited", max(0.0, at - visit.joined_at)
        return [
            QueueVisit(
                visit.queue,
                visit.joined_at,
                visit.position,
                outcome,
                wait,
                visit.agent,
                0.0,
                visit.did,
                visit.trunk,
            )
        ]

    def _transfer(self, transferer: str, at: float) -> list[Fact]:
        agent = self._agent(transferer)
        return [Transfer(agent, self._last_queue.get(agent), at)]

    # ---------------------------------------------------------------------------- agents
    def _member_changed(self, event: QueueMemberChanged) -> list[Fact]:
        agent = self._agent(event.interface)
        member = self._members.setdefault(agent, _Member())
        facts: list[Fact] = []
        if member.login_at is None:  # added now, or first seen after the daemon started
            member.login_at = event.at
        member.queues.add(event.queue)
        if event.paused and member.paused_at is None:
            member.paused_at, member.reason = event.at, event.pause_reason
        elif event.paused and event.pause_reason != member.reason:
            facts += self._end_pause(agent, member, event.at)  # a new reason: a new pause
            member.paused_at, member.reason = event.at, event.pause_reason
        elif not event.paused and member.paused_at is not None:
            facts += self._end_pause(agent, member, event.at)
        return facts

    def _member_removed(self, event: QueueMemberRemoved) -> list[Fact]:
        agent = self._agent(event.interface)
        member = self._members.get(agent)
        if member is None:
            return []
        member.queues.discard(event.queue)
        if member.queues:
            return []
        facts = self._end_pause(agent, member, event.at)
        if member.login_at is not None:
            facts.append(Span("login", agent, member.login_at, event.at))
        del self._members[agent]
        return facts

    def _end_pause(self, agent: str, member: _Member, at: float) -> list[Fact]:
        if member.paused_at is None:
            return []
        start, reason = member.paused_at, member.reason
        member.paused_at, member.reason = None, ""
        return [Span("pause", agent, start, at, reason, self._last_queue.get(agent))]
