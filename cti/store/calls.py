"""Call notes, and the end of a call: notes merged into its record, one outbox row per connector.

:func:`merge_notes` is pure. When any agent wrote about a call (a ``call_notes`` row exists),
the agents' notes and disposition *are* the record's: merging again after more typing gives the
same result as merging once at the end, which is what lets the outbox refresh a record whose
delivery waited for the agent's wrap-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from cti.core.records import CallRecord
from cti.errors import StoreError, ValidationFailed
from cti.store.codec import record_to_json
from cti.store.groups import group_for
from cti.store.models import agents, call_notes, outbox
from cti.store.text import clean_text
from cti.store.values import CallNote, check_username

__all__ = [
    "check_call_id",
    "check_connectors",
    "dialect_insert",
    "insert_outbox_rows",
    "merge_notes",
    "notes_of",
    "notes_text",
    "upsert_note",
]

_MAX_NOTES = 65536
_MAX_DISPOSITION = 255


def check_connectors(connectors: Sequence[str]) -> list[str]:
    """Return the distinct connector names, in order; refuse a bare string or a bad name."""
    if isinstance(connectors, str):
        raise ValidationFailed("connectors is a list of names, not one string")
    names = list(dict.fromkeys(connectors))
    if any(not 1 <= len(name) <= 64 for name in names):
        raise ValidationFailed("a connector name is 1 to 64 characters")
    return names


def check_call_id(call_id: str) -> str:
    if not 1 <= len(call_id) <= 255:
        raise ValidationFailed("a call id is 1 to 255 characters")
    return call_id


def upsert_note(
    conn: Connection,
    call_id: str,
    username: str,
    *,
    notes: str,
    disposition: str | None,
    now: datetime,
) -> None:
    """Save what ``username`` typed about ``call_id`` (replacing the last save).

    ``disposition_at`` moves only when the disposition changes, so "the last disposition set"
    means the last one picked, not the last keystroke in the notes.
    """
    check_call_id(call_id)
    check_username(username)
    notes = clean_text(notes)
    if len(notes) > _MAX_NOTES:
        raise ValidationFailed(f"notes are at most {_MAX_NOTES} characters")
    if disposition is not None:
        disposition = clean_text(disposition).strip() or None
    if disposition is not None and len(disposition) > _MAX_DISPOSITION:
        raise ValidationFailed(f"a disposition is at most {_MAX_DISPOSITION} characters")
    values = {
        "call_id": call_id,
        "username": username,
        "notes": notes,
        "disposition": disposition,
        "disposition_at": now if disposition is not None else None,
        "updated_at": now,
    }
    statement = dialect_insert(conn)(call_notes).values(**values)
    excluded = statement.excluded
    changed = call_notes.c.disposition.is_distinct_from(excluded.disposition)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[call_notes.c.call_id, call_notes.c.username],
            set_={
                "notes": excluded.notes,
                "disposition": excluded.disposition,
                "updated_at": excluded.updated_at,
                "disposition_at": case(
                    (changed, excluded.disposition_at), else_=call_notes.c.disposition_at
                ),
            },
        )
    )


def notes_of(conn: Connection, call_id: str) -> list[CallNote]:
    """Return every agent's notes on ``call_id``, oldest save first, with display names."""
    rows = conn.execute(
        select(call_notes, agents.c.display_name)
        .outerjoin(agents, agents.c.username == call_notes.c.username)
        .where(call_notes.c.call_id == call_id)
        .order_by(call_notes.c.updated_at, call_notes.c.username)
    )
    return [
        CallNote(
            call_id=row.call_id,
            username=row.username,
            notes=row.notes,
            disposition=row.disposition,
            updated_at=row.updated_at,
            disposition_at=row.disposition_at,
            author=row.display_name or "",
        )
        for row in rows
    ]


def merge_notes(record: CallRecord, notes: Sequence[CallNote]) -> CallRecord:
    """Return ``record`` with the agents' notes and disposition, if any agent wrote any.

    Notes: :func:`notes_text`. Disposition: the answering agent's, else the one picked last.
    """
    if not notes:
        return record
    text = notes_text(notes)
    chosen = [n for n in notes if n.disposition is not None]
    own = [n for n in chosen if n.username == record.answered_by]
    if own:
        disposition: str | None = own[0].disposition
    elif chosen:
        disposition = max(chosen, key=_disposition_time).disposition
    else:
        disposition = None
    return replace(record, notes=text, disposition=disposition)


def notes_text(notes: Sequence[CallNote]) -> str:
    """The notes of a call as one text, in the order they were written, each with its author.

    One author's text is taken as typed. Several authors (a call transferred from agent to
    agent) are each headed by the author's name, in time order of their saves (the store's
    ``updated_at``), never the answering or last agent first: the CRM's reader follows the call
    as it went. Notes left empty are left out.
    """
    ordered = sorted(notes, key=lambda n: (n.updated_at, n.username))
    written = [n for n in ordered if n.notes.strip()]
    if len(written) == 1:
        return written[0].notes.strip()
    return "\n\n".join(f"{n.author or n.username}: {n.notes.strip()}" for n in written)


def insert_outbox_rows(
    conn: Connection,
    record: CallRecord,
    connectors: Sequence[str],
    now: datetime,
    wrapup_s: int | None = None,
) -> bool:
    """Merge the call's notes into ``record`` and queue it once per connector.

    Returns False, inserting nothing, when rows for the call exist already (a repeated end).
    Delivery of an answered call waits for its group's wrap-up time, so notes the agent types
    after hanging up are still in the record the CRM receives.
    """
    check_call_id(record.call_id)
    existing = conn.execute(
        select(func.count()).select_from(outbox).where(outbox.c.call_id == record.call_id)
    ).scalar_one()
    if existing or not connectors:
        return False
    merged = merge_notes(record, notes_of(conn, record.call_id))
    wrapup = wrapup_s or 0
    if wrapup_s is None and record.answered_by:
        group = group_for(conn, did=record.did, queue=record.queue, agent=record.answered_by)
        spec = group.spec if group is not None else None
        applies = spec is not None and spec.wrapup_applies_to.applies(record.queue)
        wrapup = spec.wrapup_seconds if spec is not None and applies else 0
    payload = record_to_json(merged)
    inserted = 0
    for connector in connectors:
        statement = (
            dialect_insert(conn)(outbox)
            .values(
                call_id=record.call_id,
                connector=connector,
                payload=payload,
                created_at=now,
                attempts=0,
                next_attempt_at=now + timedelta(seconds=wrapup),
            )
            .on_conflict_do_nothing(index_elements=[outbox.c.call_id, outbox.c.connector])
            .returning(outbox.c.id)  # rowcount is not reliable across drivers here
        )
        inserted += len(conn.execute(statement).all())
    return inserted > 0


def _disposition_time(note: CallNote) -> datetime:
    return note.disposition_at or note.updated_at


def dialect_insert(conn: Connection) -> Any:
    """Return the dialect's ``insert`` (the one with ``on_conflict_do_*``)."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise StoreError("the store runs on SQLite or PostgreSQL", details={"dialect": name})
