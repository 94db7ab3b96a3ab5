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

from sqlalchemy import Connection, case, select
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
    "notes_by_call",
    "notes_of",
    "notes_text",
    "queue_records",
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
    return [_note(row) for row in rows]


def record_names(conn: Connection, call_id: str, username: str) -> bool:
    """Whether the queued record of ``call_id`` names ``username`` as rung or answering."""
    payload = conn.execute(
        select(outbox.c.payload).where(outbox.c.call_id == call_id).limit(1)
    ).scalar()
    if not isinstance(payload, dict):
        return False
    rung = payload.get("agents_rung")
    return payload.get("answered_by") == username or (isinstance(rung, list) and username in rung)


def _note(row: Any) -> CallNote:
    return CallNote(
        call_id=row.call_id,
        username=row.username,
        notes=row.notes,
        disposition=row.disposition,
        updated_at=row.updated_at,
        disposition_at=row.disposition_at,
        author=row.display_name or "",
    )


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
    return queue_records(conn, [(record, wrapup_s)], connectors, now)[0]


def queue_records(
    conn: Connection,
    ends: Sequence[tuple[CallRecord, int | None]],
    connectors: Sequence[str],
    now: datetime,
) -> list[bool]:
    """:func:`insert_outbox_rows` for many ended calls at once: a fixed number of statements.

    One query finds the calls queued before, one reads every call's notes, one multi-row
    insert queues the rest (its statement built once per dialect). Returns, per record, whether
    it was queued now. A call id twice in ``ends`` is queued once (the first).
    """
    for record, _ in ends:
        check_call_id(record.call_id)
    ids = list(dict.fromkeys(record.call_id for record, _ in ends))
    if not ids or not connectors:
        return [False] * len(ends)
    existing = set(
        conn.execute(select(outbox.c.call_id).where(outbox.c.call_id.in_(ids))).scalars()
    )
    fresh = [i for i in ids if i not in existing]
    notes = notes_by_call(conn, fresh) if fresh else {}
    rows: list[dict[str, Any]] = []
    taken: set[str] = set(existing)
    for record, wrapup_s in ends:
        if record.call_id in taken:
            continue
        taken.add(record.call_id)
        merged = merge_notes(record, notes.get(record.call_id, ()))
        due = now + timedelta(seconds=_wrapup(conn, record, wrapup_s))
        payload = record_to_json(merged)
        rows += [
            {"call_id": record.call_id, "connector": connector, "payload": payload,
             "created_at": now, "attempts": 0, "next_attempt_at": due}
            for connector in connectors
        ]  # fmt: skip
    inserted: set[str] = set()
    if rows:
        inserted = set(conn.execute(_queue_statement(conn), rows).scalars())
    return [record.call_id in inserted and _first(ends, i) for i, (record, _) in enumerate(ends)]


def _first(ends: Sequence[tuple[CallRecord, int | None]], index: int) -> bool:
    call_id = ends[index][0].call_id
    return all(record.call_id != call_id for record, _ in ends[:index])


def _wrapup(conn: Connection, record: CallRecord, wrapup_s: int | None) -> int:
    """Seconds delivery waits: ``wrapup_s``, else the answering agent's group's wrap-up."""
    if wrapup_s is not None or not record.answered_by:
        return wrapup_s or 0
    group = group_for(conn, did=record.did, queue=record.queue, agent=record.answered_by)
    spec = group.spec if group is not None else None
    applies = spec is not None and spec.wrapup_applies_to.applies(record.queue)
    return spec.wrapup_seconds if spec is not None and applies else 0


def notes_by_call(conn: Connection, call_ids: Sequence[str]) -> dict[str, list[CallNote]]:
    """Every agent's notes on each of ``call_ids``, in one query (as :func:`notes_of`)."""
    found: dict[str, list[CallNote]] = {}
    for call_id in call_ids:
        found[call_id] = []
    rows = conn.execute(
        select(call_notes, agents.c.display_name)
        .outerjoin(agents, agents.c.username == call_notes.c.username)
        .where(call_notes.c.call_id.in_(list(call_ids)))
        .order_by(call_notes.c.updated_at, call_notes.c.username)
    )
    for row in rows:
        found[row.call_id].append(_note(row))
    return found


_QUEUE_STATEMENTS: dict[str, Any] = {}


def _queue_statement(conn: Connection) -> Any:
    """The outbox insert, built once per dialect: a repeated end inserts nothing (the unique
    call and connector), and RETURNING names the calls queued (rowcount is not reliable)."""
    name = conn.dialect.name
    statement = _QUEUE_STATEMENTS.get(name)
    if statement is None:
        statement = (
            dialect_insert(conn)(outbox)
            .on_conflict_do_nothing(index_elements=[outbox.c.call_id, outbox.c.connector])
            .returning(outbox.c.call_id)
        )
        _QUEUE_STATEMENTS[name] = statement
    return statement


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
