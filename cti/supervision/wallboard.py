"""The wallboard's figures (pure): what a wall screen shows of a supervisor's group, and alerts.

Built from the live view's snapshot (:meth:`cti.supervision.live.LiveBoard.snapshot`: agents
with state, reason and since; callers waiting with their queue and since) and today's queue
figures from the report buckets (offered, answered within the service level, short abandons),
against the thresholds the group's supervisor set. Called on each tick of the feed; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cti.errors import ValidationFailed

__all__ = ["STATES", "Thresholds", "wallboard"]

STATES = ("ringing", "on_call", "wrapup", "paused", "ready")  # the board's columns, in order
_MAX_S = 86_400


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A group's alert thresholds; None: no alert of that kind."""

    max_waiting: int | None = None  # callers waiting in one queue
    max_wait_s: int | None = None  # the longest wait in one queue
    min_service_level_pct: float | None = None  # today's service level of a queue
    max_paused: int | None = None  # agents paused at once

    def __post_init__(self) -> None:
        for name, top in (("max_waiting", 1000), ("max_wait_s", _MAX_S), ("max_paused", 1000)):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value <= top):
                raise ValidationFailed(f"{name} is a whole number from 0 to {top}",
                                       details={"field": name})  # fmt: skip
        pct = self.min_service_level_pct
        if pct is not None and not 0 <= pct <= 100:
            raise ValidationFailed("min_service_level_pct is from 0 to 100",
                                   details={"field": "min_service_level_pct"})  # fmt: skip


def _level(figures: Mapping[str, float]) -> float | None:
    """Service level so far: answered within T over offered less short abandons (as reports)."""
    counted = figures.get("offered", 0.0) - figures.get("abandoned_short", 0.0)
    return round(100 * figures.get("sl_answered", 0.0) / counted, 1) if counted > 0 else None


def wallboard(
    snapshot: Mapping[str, Any],
    queues: Sequence[str],
    today: Mapping[str, Mapping[str, float]],
    thresholds: Thresholds,
    now: float,
) -> dict[str, Any]:
    """The board of one group: per queue, callers waiting, longest wait and today's figures;
    agents by state with seconds in it and the pause reason; the alerts crossed now."""
    rows = []
    for queue in queues:
        waits = [now - w["since"] for w in snapshot["waiting"] if w["queue"] == queue]
        figures = today.get(queue, {})
        rows.append({
            "queue": queue,
            "waiting": len(waits),
            "longest_wait_s": round(max(waits), 1) if waits else 0.0,
            "offered": figures.get("offered", 0.0),
            "answered": figures.get("answered", 0.0),
            "service_level_pct": _level(figures),
        })  # fmt: skip
    agents: dict[str, list[dict[str, Any]]] = {state: [] for state in STATES}
    for agent in snapshot["agents"]:
        since = agent.get("since")
        agents.setdefault(agent["state"], []).append({
            "username": agent["username"],
            "name": agent["name"],
            "for_s": round(now - since) if since is not None else None,
            "reason": agent.get("reason", ""),
        })  # fmt: skip
    return {
        "group": snapshot["group"],
        "queues": rows,
        "agents": agents,
        "alerts": _alerts(rows, len(agents.get("paused", ())), thresholds),
    }


def _alerts(rows: Sequence[Mapping[str, Any]], paused: int, t: Thresholds) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for row in rows:
        checks = (
            ("waiting", row["waiting"], t.max_waiting, row["waiting"] > (t.max_waiting or 0)),
            ("wait", row["longest_wait_s"], t.max_wait_s,
             row["longest_wait_s"] > (t.max_wait_s or 0)),
            ("service_level", row["service_level_pct"], t.min_service_level_pct,
             row["service_level_pct"] is not None
             and row["service_level_pct"] < (t.min_service_level_pct or 0)),
        )  # fmt: skip
        for kind, value, limit, crossed in checks:
            if limit is not None and crossed:
                alerts.append({"kind": kind, "queue": row["queue"], "value": value, "limit": limit})
    if t.max_paused is not None and paused > t.max_paused:
        alerts.append({"kind": "paused", "queue": "", "value": paused, "limit": t.max_paused})
    return alerts
