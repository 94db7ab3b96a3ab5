"""Every call-state and leg-state transition, in two tables.

``CALL_TRANSITIONS[state][step]`` is a call's next state. ``BACK`` means "whatever the call falls
back to": RINGING while some leg still rings, else QUEUED while the caller waits in a queue, else
NEW. ``LEG_TRANSITIONS[state][step]`` is the next state of one agent endpoint's leg; a leg is born
RINGING. A step missing from a table is illegal: :func:`next_state` and :func:`next_leg_state`
raise :class:`IllegalTransition` and the tracker leaves the call or leg as it was (and counts the
anomaly), as h11 does with its connection states.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from cti.core.updates import CallState

__all__ = [
    "BACK",
    "CALL_TRANSITIONS",
    "LEG_TRANSITIONS",
    "IllegalTransition",
    "LegState",
    "LegStep",
    "Step",
    "next_leg_state",
    "next_state",
]


class Step(StrEnum):
    QUEUE = "queue"  # the caller joined a queue
    RING = "ring"  # an agent's phone (or the far end) started ringing
    RING_STOPPED = "ring_stopped"  # a ringing leg stopped without answering
    ANSWER = "answer"  # an agent (or the far end) answered
    AGENT_LEFT = "agent_left"  # the agent who had the caller left (blind transfer in progress)
    END = "end"  # the last channel hung up


class LegState(StrEnum):
    """One agent endpoint's part in a call."""

    RINGING = "ringing"
    CANCELLED = "cancelled"  # Dial said CANCEL; why (answered elsewhere? abandoned?) comes next
    ANSWERED = "answered"
    DONE = "done"


class LegStep(StrEnum):
    """What happens to one agent endpoint's leg."""

    CANCEL = "cancel"  # DialEnd CANCEL before anyone answered: the reason comes next
    ANSWER = "answer"  # DialEnd ANSWER, an attended transfer's target, or Up at a resync
    RING_STOPPED = "ring_stopped"  # it stopped ringing unanswered (no answer, busy, caller gone)
    HANG_UP = "hang_up"  # the answered agent left: hung up, transferred away, consultation over


BACK: Final = "back"

_S = CallState
CALL_TRANSITIONS: Final[dict[CallState, dict[Step, CallState | str]]] = {
    _S.NEW: {
        Step.QUEUE: _S.QUEUED,
        Step.RING: _S.RINGING,
        Step.RING_STOPPED: _S.NEW,
        Step.ANSWER: _S.ANSWERED,
        Step.END: _S.ENDED,
    },
    _S.QUEUED: {
        Step.QUEUE: _S.QUEUED,
        Step.RING: _S.RINGING,
        Step.RING_STOPPED: _S.QUEUED,
        Step.ANSWER: _S.ANSWERED,
        Step.END: _S.ENDED,
    },
    _S.RINGING: {
        Step.QUEUE: _S.RINGING,
        Step.RING: _S.RINGING,
        Step.RING_STOPPED: BACK,
        Step.ANSWER: _S.ANSWERED,
        Step.END: _S.ENDED,
    },
    _S.ANSWERED: {
        Step.QUEUE: _S.QUEUED,  # transferred into a queue
        Step.RING: _S.ANSWERED,  # e.g. a consultation or transfer target rings
        Step.RING_STOPPED: _S.ANSWERED,
        Step.ANSWER: _S.ANSWERED,  # a transfer target took over
        Step.AGENT_LEFT: BACK,
        Step.END: _S.ENDED,
    },
    _S.ENDED: {},
}

_L = LegState
LEG_TRANSITIONS: Final[dict[LegState, dict[LegStep, LegState]]] = {
    _L.RINGING: {
        LegStep.CANCEL: _L.CANCELLED,
        LegStep.ANSWER: _L.ANSWERED,
        LegStep.RING_STOPPED: _L.DONE,
    },
    _L.CANCELLED: {
        LegStep.ANSWER: _L.ANSWERED,  # found Up at a resync: answered while AMI was down
        LegStep.RING_STOPPED: _L.DONE,
    },
    _L.ANSWERED: {
        LegStep.HANG_UP: _L.DONE,
    },
    _L.DONE: {},
}


class IllegalTransition(Exception):
    """A step that the table does not allow from the call's (or leg's) current state."""


def next_state(state: CallState, step: Step, *, ringing: bool, queued: bool) -> CallState:
    """Return the state after ``step``; raise :class:`IllegalTransition` if it is not allowed."""
    target = CALL_TRANSITIONS[state].get(step)
    if target is None:
        raise IllegalTransition(f"{step} is not allowed in state {state}")
    if target == BACK:
        if ringing:
            return CallState.RINGING
        return CallState.QUEUED if queued else CallState.NEW
    return CallState(target)


def next_leg_state(state: LegState, step: LegStep) -> LegState:
    """Return a leg's state after ``step``; raise :class:`IllegalTransition` if not allowed."""
    target = LEG_TRANSITIONS[state].get(step)
    if target is None:
        raise IllegalTransition(f"leg step {step} is not allowed in state {state}")
    return target
