"""The append-only event history: admin actions, trunk events, anything asked about later.

There is deliberately no update or delete here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from cti.errors import ValidationFailed
from cti.store.models import events
from cti.store.values import EventEntry

__all__ = ["append_event", "recent_events"]

_MAX_DETAILS = 65536


def append_event(
    conn: Connection,
    kind: str,
    details: Mapping[str, Any],
    actor: str | None,
    now: datetime,
) -> int:
    """Append one event and return its id; ``details`` must be JSON-serializable."""
    if not 1 <= len(kind) <= 64:
        raise ValidationFailed("an event kind is 1 to 64 characters")
    if actor is not None and not 1 <= len(actor) <= 64:
        raise ValidationFailed("an actor is 1 to 64 characters")
    try:
        encoded = json.dumps(dict(details), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("event details must be JSON", details={"kind": kind}) from exc
    if len(encoded) > _MAX_DETAILS:
        raise ValidationFailed("event details are too large", details={"kind": kind})
    statement = insert(events).values(at=now, actor=actor, kind=kind, details=json.loads(encoded))
    return int(conn.execute(statement.returning(events.c.id)).scalar_one())


def recent_events(
    conn: Connection, *, kind: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[EventEntry]:
    """Return events, newest first, optionally of one kind and after ``since``."""
    query = select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(events.c.kind == kind)
    if since is not None:
        query = query.where(events.c.at > since)
    return [
        EventEntry(id=row.id, at=row.at, actor=row.actor, kind=row.kind, details=dict(row.details))
        for row in conn.execute(query)
    ]
