"""The built-in CRM's read queries: the caller-ID lookup (the hot path) and call history.

Each statement is built once at import with bound parameters, so SQLAlchemy compiles it once
per dialect and every call only binds values. The lookup runs one indexed probe of
``crm_contact_phones.e164`` that also fetches the contacts, their accounts and all their phones;
then the open cases of the matched ids in one query, and each match's recent calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, RowMapping, Select, bindparam, func, or_, select

from crm_connectors.base import (
    Account,
    CallHistoryEntry,
    Case,
    Contact,
    LookupOptions,
    Match,
    MatchKind,
    RecordRef,
)
from crm_connectors.builtin.models import (
    accounts,
    call_matches,
    calls,
    cases,
    contact_phones,
    contacts,
)
from crm_connectors.builtin.rows import ACCOUNT, CONTACT, RefMaker, history_entry
from cti.errors import NotFound

__all__ = ["contacts_by_ids", "history_of_number", "history_of_record", "lookup"]

_phone = contact_phones.alias("phone")
_hit = contact_phones.alias("hit")


def _contact_select(*where: Any) -> Select[Any]:
    """Select contacts with their account, one row per phone, main number first."""
    return (
        select(
            contacts.c.id,
            contacts.c.first_name,
            contacts.c.last_name,
            contacts.c.email,
            contacts.c.title,
            accounts.c.id.label("account_id"),
            accounts.c.name.label("account_name"),
            accounts.c.phone_e164.label("account_phone_e164"),
            accounts.c.account_type.label("account_account_type"),
            accounts.c.industry.label("account_industry"),
            _phone.c.e164.label("phone"),
        )
        .select_from(
            contacts.outerjoin(accounts, accounts.c.id == contacts.c.account_id).outerjoin(
                _phone, _phone.c.contact_id == contacts.c.id
            )
        )
        .where(*where)
        .order_by(contacts.c.id, _phone.c.position, _phone.c.id)
    )


_MATCHED_IDS = (
    select(_hit.c.contact_id)
    .where(_hit.c.e164 == bindparam("e164"))
    .order_by(_hit.c.contact_id)
    .limit(bindparam("max_matches", type_=Integer))
)
_CONTACTS_BY_PHONE = _contact_select(contacts.c.id.in_(_MATCHED_IDS))
_CONTACTS_BY_IDS = _contact_select(contacts.c.id.in_(bindparam("ids", expanding=True)))

_ACCOUNTS_BY_PHONE = (
    select(accounts)
    .where(accounts.c.phone_e164 == bindparam("e164"))
    .order_by(accounts.c.id)
    .limit(bindparam("max_matches", type_=Integer))
)


def _open_cases_select(owner: Any) -> Select[Any]:
    return (
        select(cases)
        .where(
            owner.in_(bindparam("ids", expanding=True)),
            func.lower(cases.c.status).in_(bindparam("statuses", expanding=True)),
        )
        .order_by(cases.c.opened_at.desc(), cases.c.id.desc())
    )


_OPEN_CASES_OF_CONTACTS = _open_cases_select(cases.c.contact_id)
_OPEN_CASES_OF_ACCOUNTS = _open_cases_select(cases.c.account_id)

_HISTORY_COLUMNS = (
    calls.c.call_id,
    calls.c.started_at,
    calls.c.direction,
    calls.c.outcome,
    calls.c.caller_number,
    calls.c.called_number,
    calls.c.answered_by,
    calls.c.duration_seconds,
    calls.c.disposition,
    calls.c.notes,
)
_NEWEST_FIRST = (calls.c.started_at.desc(), calls.c.id.desc())
_LINKED_CALLS = select(call_matches.c.call_pk).where(
    call_matches.c.system == bindparam("system"),
    call_matches.c.object_type == bindparam("object_type"),
    call_matches.c.record_id == bindparam("record_id"),
)
_HISTORY_OF_RECORD = (
    select(*_HISTORY_COLUMNS)
    .where(
        or_(
            calls.c.id.in_(_LINKED_CALLS),
            calls.c.external_e164.in_(bindparam("phones", expanding=True)),
        )
    )
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)
_HISTORY_OF_NUMBER = (
    select(*_HISTORY_COLUMNS)
    .where(calls.c.external_e164 == bindparam("e164"))
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)


def lookup(
    conn: Connection, e164: str, options: LookupOptions, refs: RefMaker
) -> tuple[Match, ...]:
    """Return the contacts whose phones include ``e164``, else the accounts whose main number
    it is, each with its open cases and recent calls."""
    found = _load_contacts(
        conn, _CONTACTS_BY_PHONE, {"e164": e164, "max_matches": options.max_matches}, refs
    )
    if found:
        open_cases = _open_cases(
            conn, _OPEN_CASES_OF_CONTACTS, "contact_id", found, options=options, refs=refs
        )
        return tuple(
            Match(
                kind=MatchKind.CONTACT,
                contact=contact,
                account=contact.account,
                open_cases=open_cases.get(key, ()),
                history=_recent(conn, contact.ref, contact.phones, options.max_history),
            )
            for key, contact in found.items()
        )
    rows = conn.execute(_ACCOUNTS_BY_PHONE, {"e164": e164, "max_matches": options.max_matches})
    found_accounts: dict[int, Account] = {}
    for row in rows:
        account = refs.account(row._mapping)
        assert account is not None
        found_accounts[row.id] = account
    if not found_accounts:
        return ()
    open_cases = _open_cases(
        conn, _OPEN_CASES_OF_ACCOUNTS, "account_id", found_accounts, options=options, refs=refs
    )
    return tuple(
        Match(
            kind=MatchKind.ACCOUNT,
            account=account,
            open_cases=open_cases.get(key, ()),
            history=_recent(conn, account.ref, _phones_of(account), options.max_history),
        )
        for key, account in found_accounts.items()
    )


def contacts_by_ids(conn: Connection, ids: Sequence[int], refs: RefMaker) -> dict[int, Contact]:
    """Return the contacts with these keys (missing ones are left out), in key order."""
    if not ids:
        return {}
    return _load_contacts(conn, _CONTACTS_BY_IDS, {"ids": list(ids)}, refs)


def history_of_number(conn: Connection, e164: str, limit: int) -> list[CallHistoryEntry]:
    """Return the calls with ``e164`` as the far party, newest first."""
    rows = conn.execute(_HISTORY_OF_NUMBER, {"e164": e164, "limit": limit})
    return [history_entry(row._mapping) for row in rows]


def history_of_record(
    conn: Connection, ref: RecordRef, limit: int, refs: RefMaker
) -> list[CallHistoryEntry]:
    """Return the calls matched to ``ref``, or with one of its numbers, newest first.

    ``ref`` may name any system's record (a call record stores every CRM's matches); for our
    own contacts and accounts, calls with their numbers count too. Raises NotFound for a
    contact or account of ours that does not exist.
    """
    phones: tuple[str, ...] = ()
    if ref.system == refs.system and ref.object_type == CONTACT:
        contact = contacts_by_ids(conn, [refs.own_id(ref, CONTACT)], refs)
        if not contact:
            raise NotFound("no such contact", details={"record_id": ref.record_id})
        phones = next(iter(contact.values())).phones
    elif ref.system == refs.system and ref.object_type == ACCOUNT:
        row = conn.execute(
            select(accounts.c.phone_e164).where(accounts.c.id == refs.own_id(ref, ACCOUNT))
        ).first()
        if row is None:
            raise NotFound("no such account", details={"record_id": ref.record_id})
        phones = (row.phone_e164,) if row.phone_e164 else ()
    return list(_recent(conn, ref, phones, limit))


def _recent(
    conn: Connection, ref: RecordRef, phones: tuple[str, ...], limit: int
) -> tuple[CallHistoryEntry, ...]:
    if limit <= 0:
        return ()
    params = {
        "system": ref.system,
        "object_type": ref.object_type,
        "record_id": ref.record_id,
        "phones": list(phones),
        "limit": limit,
    }
    rows = conn.execute(_HISTORY_OF_RECORD, params)
    return tuple(history_entry(row._mapping) for row in rows)


def _load_contacts(
    conn: Connection, statement: Select[Any], params: Mapping[str, Any], refs: RefMaker
) -> dict[int, Contact]:
    contact_rows: dict[int, RowMapping] = {}
    phones: dict[int, list[str]] = {}
    for row in conn.execute(statement, params):
        if row.id not in contact_rows:
            contact_rows[row.id] = row._mapping
            phones[row.id] = []
        if row.phone is not None:
            phones[row.id].append(row.phone)
    return {
        key: refs.contact(row, tuple(phones[key]), refs.account(row, prefix="account_"))
        for key, row in contact_rows.items()
    }


def _open_cases(
    conn: Connection,
    statement: Select[Any],
    owner_column: str,
    owners: Iterable[int],
    *,
    options: LookupOptions,
    refs: RefMaker,
) -> dict[int, tuple[Case, ...]]:
    statuses = [status.lower() for status in options.open_case_statuses]
    if not statuses or options.max_open_cases == 0:
        return {}
    grouped: dict[int, list[Case]] = {}
    for row in conn.execute(statement, {"ids": list(owners), "statuses": statuses}):
        owned = grouped.setdefault(row._mapping[owner_column], [])
        if len(owned) < options.max_open_cases:
            owned.append(refs.case(row._mapping))
    return {key: tuple(value) for key, value in grouped.items()}


def _phones_of(account: Account) -> tuple[str, ...]:
    return (account.phone,) if account.phone else ()
