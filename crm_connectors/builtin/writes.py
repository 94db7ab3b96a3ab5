"""The built-in CRM's writes: call records, numbers linked by agents, new contacts.

Run each function inside one transaction on a writer connection (see
:func:`crm_connectors.builtin.engine.writer`). Every value goes through :func:`fitted`, so odd
text from a phone cannot make a write fail, and every insert that may be retried uses
``ON CONFLICT DO NOTHING`` on its natural key (SQLite and PostgreSQL spell it the same).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from crm_connectors.base import NewContact
from crm_connectors.builtin.models import accounts, call_matches, calls, contact_phones, contacts
from crm_connectors.builtin.rows import ACCOUNT, CONTACT, RefMaker
from crm_connectors.builtin.text import clean_text, fitted
from cti.core.records import CallRecord, CrmMatch, Direction
from cti.errors import CrmError, NotFound, ValidationFailed
from cti.numbers import EnteredNumber, parse_entered, split_extension, to_e164

__all__ = ["call_row", "create_contact", "dialect_insert", "link_number", "log_call", "log_calls"]

_MAX_CALL_ID = 255  # crm_calls.call_id; a longer key is refused, never cut (it would merge calls)


def log_call(conn: Connection, record: CallRecord, default_region: str, now: datetime) -> str:
    """Insert ``record`` unless a call with its ``call_id`` exists; return the row's key.

    The insert and the match rows happen together or not at all (one transaction), so a call
    that exists is complete and a retry writes nothing.
    """
    return log_calls(conn, [record], default_region, now)[0]


def log_calls(
    conn: Connection, records: Sequence[CallRecord], default_region: str, now: datetime
) -> list[str]:
    """:func:`log_call` for many records in one transaction: a fixed number of statements.

    One multi-row insert (its statement built once per dialect) stores the calls not stored
    yet, one query finds the keys of those that were, one insert adds every new call's match
    rows. Returns each record's key, in order; a call id twice in ``records`` is one call.
    Raises ValidationFailed, writing nothing, when any record is refused.
    """
    stored: list[str] = []  # each record's call id as stored (NUL removed)
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        _check_record(record)
        row = fitted(calls, call_row(record, default_region, now))
        stored.append(str(row["call_id"]))
        rows.setdefault(stored[-1], row)
    if not rows:
        return []
    statement = _insert_call(conn.dialect.name)
    keys: dict[str, int] = {c: k for c, k in conn.execute(statement, list(rows.values()))}
    fresh = set(keys)
    missing = [call_id for call_id in rows if call_id not in keys]
    if missing:
        found = select(calls.c.call_id, calls.c.id).where(calls.c.call_id.in_(missing))
        keys.update((c, k) for c, k in conn.execute(found))
    matches: dict[tuple[object, ...], dict[str, object]] = {}
    for record, call_id in zip(records, stored, strict=True):
        if call_id not in fresh:
            continue
        for match in record.matches:
            row = fitted(call_matches, {"call_pk": keys[call_id], **_match_values(match)})
            matches.setdefault(tuple(row.values()), row)
    if matches:
        conn.execute(call_matches.insert(), list(matches.values()))
    return [str(keys[call_id]) for call_id in stored]


def _check_record(record: CallRecord) -> None:
    if not record.call_id or len(record.call_id) > _MAX_CALL_ID:
        raise ValidationFailed(
            f"call_id must be 1 to {_MAX_CALL_ID} characters",
            details={"length": len(record.call_id)},
        )
    times = (record.started_at, record.ended_at, record.answered_at)
    if any(time is not None and time.tzinfo is None for time in times):
        raise ValidationFailed(
            "call times must be timezone-aware", details={"call_id": record.call_id}
        )


def link_number(
    conn: Connection, number: str, contact: int, default_region: str, label: str = "linked"
) -> None:
    """Add ``number`` to the phones of contact ``contact`` (after its other numbers).

    Raises ValidationFailed when ``number`` is not a phone number, NotFound when the contact
    does not exist. Linking a number the contact already has does nothing.
    """
    # A number seen on a call (the caller id): possible is enough, as for lookups. One with an
    # extension (``;ext=12``, handed over by another CRM) keeps it, as create_contact does.
    main, extension = split_extension(number)
    e164 = to_e164(main, default_region)
    if e164 is None:
        raise ValidationFailed("not a phone number", details={"number": clean_text(number)[:64]})
    _require(conn, contacts, contact, CONTACT)
    position = conn.execute(
        select(func.count()).where(contact_phones.c.contact_id == contact)
    ).scalar_one()
    row = {
        "contact_id": contact,
        "e164": e164,
        "extension": extension,
        "label": label,
        "position": position,
    }
    statement = dialect_insert(conn.dialect.name)(contact_phones).on_conflict_do_nothing(
        index_elements=[contact_phones.c.e164, contact_phones.c.contact_id]
    )
    conn.execute(statement, row)


def create_contact(
    conn: Connection, new: NewContact, refs: RefMaker, default_region: str, now: datetime
) -> int:
    """Insert ``new`` with its phones and return its key.

    Raises ValidationFailed for a phone that is not a number, NotFound for a missing account.
    """
    phones = _entered_phones(new.phones, default_region)
    account_id = None
    if new.account is not None:
        account_id = refs.own_id(new.account, ACCOUNT)
        _require(conn, accounts, account_id, ACCOUNT)
    values = {
        "account_id": account_id,
        "first_name": new.first_name.strip(),
        "last_name": new.last_name.strip(),
        "email": new.email.strip() if new.email else None,
        "title": new.title.strip() if new.title else None,
        "created_at": now,
    }
    statement = contacts.insert().returning(contacts.c.id)
    contact_id: int = conn.execute(statement, fitted(contacts, values)).scalar_one()
    if phones:
        rows = [
            {
                "contact_id": contact_id,
                "e164": phone.e164,
                "extension": phone.extension,
                "label": None,
                "position": position,
            }
            for position, phone in enumerate(phones)
        ]
        conn.execute(contact_phones.insert(), rows)
    return contact_id


def call_row(record: CallRecord, default_region: str, now: datetime) -> dict[str, object]:
    """``record`` as a ``crm_calls`` row, logged at ``now`` (numbers in E.164 of the region)."""
    far_party = {
        Direction.INBOUND: record.caller_number,
        Direction.OUTBOUND: record.called_number,
    }.get(record.direction)
    return {
        "call_id": record.call_id,
        "server": record.server,
        "direction": record.direction.value,
        "outcome": record.outcome.value,
        "started_at": record.started_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "called_number": record.called_number,
        "external_e164": to_e164(far_party, default_region) if far_party else None,
        "did": record.did,
        "trunk": record.trunk,
        "queue": record.queue,
        "wait_seconds": record.wait_seconds,
        "talk_seconds": record.talk_seconds,
        "hold_seconds": record.hold_seconds,
        "duration_seconds": max(0.0, record.duration_seconds),
        "agents_rung": [clean_text(agent) for agent in record.agents_rung],
        "answered_by": record.answered_by,
        "notes": record.notes,
        "disposition": record.disposition,
        "flags": [clean_text(flag) for flag in record.flags],
        "recordings": [clean_text(link) for link in record.recordings],
        "logged_at": now,
    }


def _match_values(match: CrmMatch) -> dict[str, object]:
    return {"system": match.system, "object_type": match.object_type, "record_id": match.record_id}


@cache
def _insert_call(dialect: str) -> Insert:
    statement: Insert = (
        dialect_insert(dialect)(calls)
        .on_conflict_do_nothing(index_elements=[calls.c.call_id])
        .returning(calls.c.call_id, calls.c.id)
    )
    return statement


def dialect_insert(dialect: str) -> Callable[[Table], Any]:
    """Return the ``insert`` of ``dialect`` that has ``on_conflict_do_nothing``."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise CrmError("the built-in CRM runs on SQLite or PostgreSQL", details={"dialect": dialect})


def _entered_phones(raw: tuple[str, ...], default_region: str) -> list[EnteredNumber]:
    """Return typed-in numbers read (main number and extension), once per main number.

    Refuses a number valid in no region. The extension (``ext. 12``) is kept in its own column;
    a contact holds a main number once (the lookup index), so a repeat keeps the first's.
    """
    kept: dict[str, EnteredNumber] = {}
    for number in raw:
        phone = parse_entered(clean_text(number)[:64], default_region, "phone")
        kept.setdefault(phone.e164, phone)
    return list(kept.values())


def _require(conn: Connection, table: Table, key: int, object_type: str) -> None:
    if conn.execute(select(table.c.id).where(table.c.id == key)).first() is None:
        raise NotFound(f"no such {object_type}", details={"record_id": str(key)})
