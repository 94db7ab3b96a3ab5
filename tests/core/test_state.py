"""The transition tables: every legal call and leg step, and illegal ones refused, state kept."""

from __future__ import annotations

import pytest

from cti.core.calls import TrackedLeg
from cti.core.state import (
    BACK,
    CALL_TRANSITIONS,
    LEG_TRANSITIONS,
    IllegalTransition,
    LegState,
    LegStep,
    Step,
    next_leg_state,
    next_state,
)
from cti.core.updates import CallState

L = LegState
LEGAL_LEG_STEPS = [
    (L.RINGING, LegStep.CANCEL, L.CANCELLED),  # DialEnd CANCEL, nobody answered yet
    (L.RINGING, LegStep.ANSWER, L.ANSWERED),  # DialEnd ANSWER
    (L.RINGING, LegStep.RING_STOPPED, L.DONE),  # no answer, busy, the caller left
    (L.CANCELLED, LegStep.ANSWER, L.ANSWERED),  # found Up at a resync
    (L.CANCELLED, LegStep.RING_STOPPED, L.DONE),  # answered elsewhere, or abandoned
    (L.ANSWERED, LegStep.HANG_UP, L.DONE),  # hung up, transferred away, consultation over
]
ILLEGAL_LEG_STEPS = [
    (state, step)
    for state in LegState
    for step in LegStep
    if (state, step) not in {(s, p) for s, p, _ in LEGAL_LEG_STEPS}
]


def _leg(state: LegState) -> TrackedLeg:
    return TrackedLeg("PJSIP/1001", "1700000000.1", state, 12.5, "PJSIP/1001-00000001")


def test_the_leg_table_is_exactly_the_legal_steps() -> None:
    table = {(s, p, t) for s, row in LEG_TRANSITIONS.items() for p, t in row.items()}
    assert table == set(LEGAL_LEG_STEPS)
    assert set(LEG_TRANSITIONS) == set(LegState)
    assert LEG_TRANSITIONS[L.DONE] == {}  # a leg that is done stays done


@pytest.mark.parametrize(("state", "step", "after"), LEGAL_LEG_STEPS)
def test_each_legal_leg_step(state: LegState, step: LegStep, after: LegState) -> None:
    assert next_leg_state(state, step) is after
    leg = _leg(state)
    leg.step(step)
    assert leg == TrackedLeg("PJSIP/1001", "1700000000.1", after, 12.5, "PJSIP/1001-00000001")


@pytest.mark.parametrize(("state", "step"), ILLEGAL_LEG_STEPS)
def test_an_illegal_leg_step_raises_and_leaves_the_leg_unchanged(
    state: LegState, step: LegStep
) -> None:
    leg = _leg(state)
    with pytest.raises(IllegalTransition, match=f"{step}.*{state}"):
        leg.step(step)
    assert leg == _leg(state)


def test_answering_a_leg_twice_is_illegal() -> None:
    leg = _leg(L.RINGING)
    leg.step(LegStep.ANSWER)
    with pytest.raises(IllegalTransition):
        leg.step(LegStep.ANSWER)
    assert leg.state is L.ANSWERED


S = CallState


@pytest.mark.parametrize(
    ("ringing", "queued", "after"),
    [
        (True, True, S.RINGING),
        (True, False, S.RINGING),
        (False, True, S.QUEUED),
        (False, False, S.NEW),
    ],
)
def test_a_call_falls_back_to_ringing_then_queued_then_new(
    ringing: bool, queued: bool, after: CallState
) -> None:
    assert CALL_TRANSITIONS[S.RINGING][Step.RING_STOPPED] == BACK
    assert next_state(S.RINGING, Step.RING_STOPPED, ringing=ringing, queued=queued) is after
    assert next_state(S.ANSWERED, Step.AGENT_LEFT, ringing=ringing, queued=queued) is after


@pytest.mark.parametrize(
    ("state", "step"),
    [(s, p) for s in CallState for p in Step if p not in CALL_TRANSITIONS[s]],
)
def test_an_illegal_call_step_raises(state: CallState, step: Step) -> None:
    with pytest.raises(IllegalTransition, match=f"{step}.*{state}"):
        next_state(state, step, ringing=False, queued=False)
