"""Every call-state transition, in one table.

``CALL_TRANSITIONS[state][step]`` is the next state. ``BACK`` means "whatever the call falls back
to": RINGING while some leg still rings, else QUEUED while the caller waits in a queue, else NEW.
A step missing from the table is illegal: :func:`next_state` raises and the tracker leaves the
call as it was (and counts the anomaly), as h11 does with its connection states.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from cti.core.updates import CallState

__all__ = ["BACK", "CALL_TRANSITIONS", "IllegalTransition", "LegState", "Step", "next_state"]


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


class IllegalTransition(Exception):
    """A step that the table does not allow from the call's current state."""


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
