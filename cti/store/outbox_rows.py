"""The outbox table's queries: claim due rows, record outcomes, show and retry rows.

Rows are never deleted. A claim moves a row's ``next_attempt_at`` to the end of a lease, so a
second writer (another daemon process) skips it, and a writer that dies mid-delivery leaves a
row that becomes due again when the lease ends; connectors are idempotent on the call id, so a
row delivered twice is still one CRM record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, case, func, select, update

from cti.errors import CtiError
from cti.store.calls import merge_notes, notes_by_call
from cti.store.codec import record_from_json, record_to_json
from cti.store.models import outbox
from cti.store.values import CallNote, Delivery, OutboxCounts, OutboxEntry

__all__ = [
    "claim_due",
    "counts",
    "entries",
    "make_due",
    "mark_delivered",
    "mark_failed",
    "next_due",
    "release_waiting",
]

_MAX_ERROR = 2000


def claim_due(conn: Connection, now: datetime, limit: int, lease_until: datetime) -> list[Delivery]:
    """Claim up to ``limit`` undelivered rows due at ``now`` until ``lease_until``.

    Each claimed record is refreshed with the call's notes as they are now (an agent may have
    written more during wrap-up). A row whose payload cannot be read counts a failed attempt and
    stays in the outbox for an admin to see.
    """
    rows = conn.execute(
        select(outbox)
        .where(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_([row.id for row in rows]))
        .values(next_attempt_at=lease_until)
    )
    claimed = []
    notes = notes_by_call(conn, list(dict.fromkeys(row.call_id for row in rows)))  # one query
    for row in rows:
        delivery = _delivery(conn, row, now, lease_until, notes[row.call_id])
        if delivery is not None:
            claimed.append(delivery)
    return claimed


def mark_delivered(conn: Connection, row_id: int, crm_id: str, now: datetime) -> None:
    """Record that the row's connector stored the call as ``crm_id`` (first success wins)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.delivered_at.is_(None))
        .values(
            attempts=outbox.c.attempts + 1,
            last_attempt_at=now,
            delivered_at=now,
            crm_id=crm_id[:255],
        )
    )


def mark_all_delivered(conn: Connection, marks: Sequence[tuple[int, str]], now: datetime) -> None:
    """:func:`mark_delivered` for many rows (row id, crm id): one executemany."""
    if marks:
        conn.execute(
            _MARK_DELIVERED, [{"m_row": row_id, "m_crm": crm_id[:255], "m_now": now}
                              for row_id, crm_id in marks],
        )  # fmt: skip


_MARK_DELIVERED = (
    update(outbox)
    .where(outbox.c.id == bindparam("m_row"), outbox.c.delivered_at.is_(None))
    .values(
        attempts=outbox.c.attempts + 1,
        last_attempt_at=bindparam("m_now"),
        delivered_at=bindparam("m_now"),
        crm_id=bindparam("m_crm"),
    )
)  # built once


def mark_failed(
    conn: Connection, row_id: int, error: str, next_attempt_at: datetime, now: datetime
) -> None:
    """Record a failed attempt and when to try again."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.delivered_at.is_(None))
        .values(
            attempts=outbox.c.attempts + 1,
            last_attempt_at=now,
            last_error=error[:_MAX_ERROR],
            next_attempt_at=next_attempt_at,
        )
    )


def counts(conn: Connection, stuck_after: int) -> OutboxCounts:
    """Return how many rows wait for delivery, and how many of them failed ``stuck_after`` times."""
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((outbox.c.attempts >= stuck_after, 1), else_=0)), 0),
        ).where(outbox.c.delivered_at.is_(None))
    ).one()
    return OutboxCounts(depth=int(row[0]), stuck=int(row[1]))


def next_due(conn: Connection) -> datetime | None:
    """Return when the next undelivered row is due, None when nothing waits."""
    value: datetime | None = conn.execute(
        select(func.min(outbox.c.next_attempt_at)).where(outbox.c.delivered_at.is_(None))
    ).scalar()
    return value


def entries(
    conn: Connection,
    *,
    stuck_after: int | None = None,
    include_delivered: bool = False,
    call_id: str | None = None,
    limit: int = 100,
) -> list[OutboxEntry]:
    """Return outbox rows, oldest first: undelivered ones, only stuck ones, or all."""
    query = select(outbox).order_by(outbox.c.created_at, outbox.c.id).limit(limit)
    if not include_delivered:
        query = query.where(outbox.c.delivered_at.is_(None))
    if stuck_after is not None:
        query = query.where(outbox.c.attempts >= stuck_after)
    if call_id is not None:
        query = query.where(outbox.c.call_id == call_id)
    return [_entry(row) for row in conn.execute(query)]


def make_due(conn: Connection, row_ids: Sequence[int] | None, now: datetime) -> int:
    """Make undelivered rows (those in ``row_ids``, or all) due at ``now``; return how many."""
    statement = update(outbox).where(outbox.c.delivered_at.is_(None)).values(next_attempt_at=now)
    if row_ids is not None:
        statement = statement.where(outbox.c.id.in_(list(row_ids)))
    return int(conn.execute(statement).rowcount)


def release_waiting(
    conn: Connection,
    connector: str,
    now: datetime,
    limit: int | None,
    exclude: Sequence[int],
) -> int:
    """Make rows of ``connector`` that wait out a backoff due at ``now`` (the oldest ``limit``).

    Only rows that failed before (``last_error`` set) and are not in ``exclude`` (in flight in
    this writer) move; rows waiting for an agent's wrap-up keep their time. Returns how many.
    """
    query = (
        select(outbox.c.id)
        .where(
            outbox.c.delivered_at.is_(None),
            outbox.c.connector == connector,
            outbox.c.last_error.is_not(None),
            outbox.c.next_attempt_at > now,
        )
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if exclude:
        query = query.where(outbox.c.id.not_in(list(exclude)))
    ids = [row.id for row in conn.execute(query)]
    if ids:
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(next_attempt_at=now))
    return len(ids)


def _delivery(
    conn: Connection, row: Row[Any], now: datetime, lease_until: datetime, notes: list[CallNote]
) -> Delivery | None:
    try:
        record = record_from_json(row.payload)
    except CtiError as exc:
        mark_failed(conn, row.id, f"{exc.error_id}: {exc.message}", lease_until, now)
        return None
    if notes:
        fresh = merge_notes(record, notes)
        if fresh != record:
            record = fresh
            conn.execute(
                update(outbox).where(outbox.c.id == row.id).values(payload=record_to_json(fresh))
            )
    return Delivery(row.id, row.call_id, row.connector, record, row.attempts)


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        call_id=row.call_id,
        connector=row.connector,
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        crm_id=row.crm_id,
    )
