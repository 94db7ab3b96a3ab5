"""The wallboard's figures (pure): waiting and longest wait per queue, today's service level,
agents by state with time in state and pause reason, and the alerts a group's thresholds raise."""

from __future__ import annotations

from typing import Any

import pytest

from cti.errors import ValidationFailed
from cti.supervision.wallboard import Thresholds, wallboard

NOW = 10_000.0


def _agent(user: str, state: str, since: float | None, reason: str = "") -> dict[str, Any]:
    return {
        "username": user,
        "name": user.title(),
        "state": state,
        "since": since,
        "reason": reason,
    }


SNAPSHOT: dict[str, Any] = {
    "group": "Sales",
    "agents": [
        _agent("alice", "on_call", NOW - 95),
        _agent("bob", "paused", NOW - 300, "Lunch"),
        _agent("carol", "paused", NOW - 20, "Training"),
        _agent("dave", "ready", None),
    ],
    "waiting": [
        {"queue": "sales", "since": NOW - 50},
        {"queue": "sales", "since": NOW - 12.5},
        {"queue": "other", "since": NOW - 999},  # not a queue of the group
    ],
}
TODAY = {"sales": {"offered": 11, "answered": 9, "sl_answered": 8, "abandoned_short": 1}}


def test_queues_show_waiting_longest_wait_and_service_level_so_far() -> None:
    board = wallboard(SNAPSHOT, ("sales", "sales-vip"), TODAY, Thresholds(), NOW)
    assert board["queues"] == [
        {"queue": "sales", "waiting": 2, "longest_wait_s": 50.0, "offered": 11,
         "answered": 9, "service_level_pct": 80.0},
        {"queue": "sales-vip", "waiting": 0, "longest_wait_s": 0.0, "offered": 0.0,
         "answered": 0.0, "service_level_pct": None},
    ]  # fmt: skip
    assert board["alerts"] == []


def test_agents_by_state_with_time_in_state_and_pause_reason() -> None:
    agents = wallboard(SNAPSHOT, ("sales",), TODAY, Thresholds(), NOW)["agents"]
    assert [a["username"] for a in agents["paused"]] == ["bob", "carol"]
    assert agents["paused"][0] == {
        "username": "bob",
        "name": "Bob",
        "for_s": 300,
        "reason": "Lunch",
    }
    assert agents["on_call"][0]["for_s"] == 95
    assert agents["ready"] == [{"username": "dave", "name": "Dave", "for_s": None, "reason": ""}]
    assert agents["ringing"] == [] and agents["wrapup"] == []


def test_thresholds_crossed_raise_alerts_and_equal_ones_do_not() -> None:
    limits = Thresholds(max_waiting=1, max_wait_s=50, min_service_level_pct=90, max_paused=1)
    alerts = wallboard(SNAPSHOT, ("sales",), TODAY, limits, NOW)["alerts"]
    assert alerts == [
        {"kind": "waiting", "queue": "sales", "value": 2, "limit": 1},
        {"kind": "service_level", "queue": "sales", "value": 80.0, "limit": 90},
        {"kind": "paused", "queue": "", "value": 2, "limit": 1},
    ]  # the longest wait equals its limit: not crossed


@pytest.mark.parametrize(
    "bad",
    [{"max_waiting": -1}, {"max_wait_s": 100_000}, {"min_service_level_pct": 101.0},
     {"max_paused": 2.5}],
)  # fmt: skip
def test_bad_thresholds_are_refused_naming_the_field(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Thresholds(**bad)
    assert caught.value.details["field"] == next(iter(bad))
