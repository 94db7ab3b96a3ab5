"""Rows of ``live_calls``: each call up now, as the tracker's snapshot, saved as it changes.

A restarted daemon loads them before its first resync with the PBX (see
:mod:`cti.core.snapshot`). Saving is an upsert per call; a call's row is deleted in the
transaction that queues its record, so a call is either live here or recorded in the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from cti.store.calls import check_call_id, dialect_insert
from cti.store.models import live_calls

__all__ = ["delete_live", "load_live", "save_live"]


def save_live(
    conn: Connection, snapshots: Mapping[str, Mapping[str, Any]], gone: Iterable[str], now: datetime
) -> None:
    """Upsert ``snapshots`` (call id -> snapshot with its ``server``) and delete ``gone``.

    One executemany of a statement built once per dialect, whatever the number of calls (the
    journal saves every changed call of the last half second at once).
    """
    rows = [
        {"call_id": check_call_id(call_id), "server": str(snapshot["server"]),
         "snapshot": dict(snapshot), "saved_at": now}
        for call_id, snapshot in snapshots.items()
    ]  # fmt: skip
    if rows:
        conn.execute(_upsert(conn), rows)
    delete_live(conn, gone)


_UPSERTS: dict[str, Any] = {}


def _upsert(conn: Connection) -> Any:
    """The live-call upsert for ``conn``'s dialect, built once."""
    name = conn.dialect.name
    statement = _UPSERTS.get(name)
    if statement is None:
        insert = dialect_insert(conn)(live_calls)
        statement = insert.on_conflict_do_update(
            index_elements=[live_calls.c.call_id],
            set_={"snapshot": insert.excluded.snapshot, "saved_at": insert.excluded.saved_at},
        )
        _UPSERTS[name] = statement
    return statement


def delete_live(conn: Connection, call_ids: Iterable[str]) -> None:
    ids = list(call_ids)
    if ids:
        conn.execute(delete(live_calls).where(live_calls.c.call_id.in_(ids)))


def load_live(conn: Connection) -> list[tuple[str, str, dict[str, Any], datetime]]:
    """Every saved live call: (call id, server, snapshot, when it was saved)."""
    rows = conn.execute(select(live_calls).order_by(live_calls.c.call_id))
    return [(row.call_id, row.server, dict(row.snapshot), row.saved_at) for row in rows]
