"""The wallboard's alert thresholds, one set per agent group, kept in the store.

A group's supervisors (and admins) set them from the wallboard page; the live feed reloads them
with the groups every few seconds and at once after a change. A body is checked whole before
anything is written (an unknown field, a wrong type or a value out of range is refused with
the field named), so a refused change stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from cti.errors import NotFound, ValidationFailed
from cti.store.models import agent_groups
from cti.store.wallboard_tables import wallboard_thresholds as t
from cti.supervision.wallboard import Thresholds

__all__ = ["load_thresholds", "parse_thresholds", "save_thresholds", "thresholds_json"]

_NAMES = tuple(f.name for f in fields(Thresholds))


def parse_thresholds(body: Mapping[str, Any]) -> Thresholds:
    """The thresholds a request body sets (a missing or null field: no alert of that kind)."""
    for name in body:
        if name not in _NAMES:
            raise ValidationFailed(
                f"unknown field {name[:40]!r}; thresholds are {', '.join(_NAMES)}",
                details={"field": name[:40]},
            )
    values: dict[str, Any] = {}
    for name in _NAMES:
        value = body.get(name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not number:
            raise ValidationFailed(f"{name} is a number or null", details={"field": name})
        if name != "min_service_level_pct" and isinstance(value, float):
            if not value.is_integer():
                raise ValidationFailed(f"{name} is a whole number", details={"field": name})
            value = int(value)
        values[name] = value
    return Thresholds(**values)


def thresholds_json(thresholds: Thresholds) -> dict[str, Any]:
    return asdict(thresholds)


def load_thresholds(conn: Connection) -> dict[str, Thresholds]:
    """Every group's thresholds, by group name (groups without any are left out)."""
    query = select(agent_groups.c.name, *(t.c[name] for name in _NAMES)).join(
        agent_groups, agent_groups.c.id == t.c.group_id
    )
    return {
        str(row[0]): Thresholds(**{n: row[i + 1] for i, n in enumerate(_NAMES)})
        for row in conn.execute(query)
    }


def save_thresholds(conn: Connection, group: str, thresholds: Thresholds, by: str) -> None:
    """Replace ``group``'s thresholds (in the caller's transaction); NotFound if no such group."""
    found = conn.execute(select(agent_groups.c.id).where(agent_groups.c.name == group)).first()
    if found is None:
        raise NotFound("no such group", details={"group": group[:80]})
    conn.execute(delete(t).where(t.c.group_id == found[0]))
    conn.execute(
        insert(t).values(
            group_id=found[0],
            updated_by=by,
            updated_at=datetime.now(UTC),
            **thresholds_json(thresholds),
        )
    )
