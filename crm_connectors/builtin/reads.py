"""The built-in CRM's read queries: the caller-ID lookup (the hot path) and call history.

Each statement is built once at import with bound parameters, so it is compiled once per
dialect and every call only binds values. The lookup probes ``crm_contact_phones.e164`` once,
fetching the matched contacts with their accounts and all their phones; then, for each match
only, its open cases and its recent calls. None of the lookup's statements has an expanding
``IN`` list, so they also run prepared on the driver (see :mod:`.runner`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, Select, bindparam, func, or_, select

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
from crm_connectors.builtin.runner import Runner, SqlaRunner
from cti.errors import NotFound, ValidationFailed
from cti.numbers import phone_with_extension

__all__ = [
    "MAX_OPEN_STATUSES",
    "contacts_by_ids",
    "history_of_number",
    "history_of_record",
    "lookup",
]

#: How many distinct open-case statuses a lookup can filter on (one bound slot each).
MAX_OPEN_STATUSES = 16

_phone = contact_phones.alias("phone")
_hit = contact_phones.alias("hit")


def _contact_select(*where: ColumnElement[bool]) -> Select[Any]:
    """Select contacts with their account, one row per phone (and its extension), main first."""
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
            _phone.c.extension.label("phone_extension"),
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
_CONTACT_EXISTS = select(contacts.c.id).where(contacts.c.id == bindparam("id"))

_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.name,
    accounts.c.phone_e164,
    accounts.c.account_type,
    accounts.c.industry,
)
_ACCOUNTS_BY_PHONE = (
    select(*_ACCOUNT_COLUMNS)
    .where(accounts.c.phone_e164 == bindparam("e164"))
    .order_by(accounts.c.id)
    .limit(bindparam("max_matches", type_=Integer))
)
_ACCOUNT_BY_ID = select(*_ACCOUNT_COLUMNS).where(accounts.c.id == bindparam("id"))

_STATUS_SLOTS = [f"status_{slot}" for slot in range(MAX_OPEN_STATUSES)]


def _open_cases_select(owner: ColumnElement[Any]) -> Select[Any]:
    # A fixed number of status slots (unused ones bound to NULL, which matches nothing) keeps
    # the statement free of expanding parameters.
    return (
        select(cases)
        .where(
            owner == bindparam("owner"),
            func.lower(cases.c.status).in_([bindparam(slot) for slot in _STATUS_SLOTS]),
        )
        .order_by(cases.c.opened_at.desc(), cases.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )


_OPEN_CASES_OF_CONTACT = _open_cases_select(cases.c.contact_id)
_OPEN_CASES_OF_ACCOUNT = _open_cases_select(cases.c.account_id)

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
    calls.c.recordings,
)
_LINKED = calls.c.id.in_(
    select(call_matches.c.call_pk).where(
        call_matches.c.system == bindparam("system"),
        call_matches.c.object_type == bindparam("object_type"),
        call_matches.c.record_id == bindparam("record_id"),
    )
)


def _history_select(*either: ColumnElement[bool]) -> Select[Any]:
    return (
        select(*_HISTORY_COLUMNS)
        .where(or_(*either))
        .order_by(calls.c.started_at.desc(), calls.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )


# A contact's calls: matched to it when logged, or with any of its numbers as the far party
# (so calls from a number linked later count too). An account's: matched, or its main number.
_HISTORY_OF_CONTACT = _history_select(
    _LINKED,
    calls.c.external_e164.in_(
        select(contact_phones.c.e164).where(contact_phones.c.contact_id == bindparam("contact"))
    ),
)
_HISTORY_OF_ACCOUNT = _history_select(_LINKED, calls.c.external_e164 == bindparam("phone"))
_HISTORY_OF_LINKED = _history_select(_LINKED)
_HISTORY_OF_NUMBER = _history_select(calls.c.external_e164 == bindparam("e164"))


def lookup(runner: Runner, e164: str, options: LookupOptions, refs: RefMaker) -> tuple[Match, ...]:
    """Return the contacts whose phones include ``e164``, else the accounts whose main number
    it is, each with its open cases and recent calls."""
    limits = {"e164": e164, "max_matches": options.max_matches}
    found = _contacts(runner.rows(_CONTACTS_BY_PHONE, limits), refs)
    if found:
        return tuple(
            Match(
                kind=MatchKind.CONTACT,
                contact=contact,
                account=contact.account,
                open_cases=_open_cases(runner, _OPEN_CASES_OF_CONTACT, key, options, refs),
                history=_contact_history(runner, contact.ref, options.max_history),
            )
            for key, contact in found.items()
        )
    matches = []
    for row in runner.rows(_ACCOUNTS_BY_PHONE, limits):
        account = refs.account(row)
        assert account is not None
        matches.append(
            Match(
                kind=MatchKind.ACCOUNT,
                account=account,
                open_cases=_open_cases(runner, _OPEN_CASES_OF_ACCOUNT, row["id"], options, refs),
                history=_account_history(runner, account, options.max_history),
            )
        )
    return tuple(matches)


def contacts_by_ids(conn: Connection, ids: Sequence[int], refs: RefMaker) -> dict[int, Contact]:
    """Return the contacts with these keys (missing ones are left out), in key order."""
    if not ids:
        return {}
    return _contacts(SqlaRunner(conn).rows(_CONTACTS_BY_IDS, {"ids": list(ids)}), refs)


def history_of_number(runner: Runner, e164: str, limit: int) -> list[CallHistoryEntry]:
    """Return the calls with ``e164`` as the far party, newest first."""
    rows = runner.rows(_HISTORY_OF_NUMBER, {"e164": e164, "limit": limit})
    return [history_entry(row) for row in rows]


def history_of_record(
    runner: Runner, ref: RecordRef, limit: int, refs: RefMaker
) -> list[CallHistoryEntry]:
    """Return the calls matched to ``ref`` (any system's record), newest first.

    For our own contacts and accounts, calls with their numbers count too; NotFound when such
    a contact or account does not exist.
    """
    if ref.system == refs.system and ref.object_type == CONTACT:
        if not runner.rows(_CONTACT_EXISTS, {"id": refs.own_id(ref, CONTACT)}):
            raise NotFound("no such contact", details={"record_id": ref.record_id})
        return list(_contact_history(runner, ref, limit))
    if ref.system == refs.system and ref.object_type == ACCOUNT:
        rows = runner.rows(_ACCOUNT_BY_ID, {"id": refs.own_id(ref, ACCOUNT)})
        account = refs.account(rows[0]) if rows else None
        if account is None:
            raise NotFound("no such account", details={"record_id": ref.record_id})
        return list(_account_history(runner, account, limit))
    rows = runner.rows(_HISTORY_OF_LINKED, {**_linked(ref), "limit": limit})
    return [history_entry(row) for row in rows]


def _contact_history(runner: Runner, ref: RecordRef, limit: int) -> tuple[CallHistoryEntry, ...]:
    if limit <= 0:
        return ()
    values = {**_linked(ref), "contact": int(ref.record_id), "limit": limit}
    return tuple(history_entry(row) for row in runner.rows(_HISTORY_OF_CONTACT, values))


def _account_history(runner: Runner, account: Account, limit: int) -> tuple[CallHistoryEntry, ...]:
    if limit <= 0:
        return ()
    values = {**_linked(account.ref), "phone": account.phone, "limit": limit}
    return tuple(history_entry(row) for row in runner.rows(_HISTORY_OF_ACCOUNT, values))


def _linked(ref: RecordRef) -> dict[str, str]:
    return {"system": ref.system, "object_type": ref.object_type, "record_id": ref.record_id}


def _open_cases(
    runner: Runner,
    statement: Select[Any],
    owner: int,
    options: LookupOptions,
    refs: RefMaker,
) -> tuple[Case, ...]:
    statuses = list(dict.fromkeys(status.lower() for status in options.open_case_statuses))
    if not statuses or options.max_open_cases == 0:
        return ()
    if len(statuses) > MAX_OPEN_STATUSES:
        raise ValidationFailed(
            f"the built-in CRM filters on at most {MAX_OPEN_STATUSES} open-case statuses",
            details={"statuses": len(statuses)},
        )
    slots = dict.fromkeys(_STATUS_SLOTS)
    slots.update(zip(_STATUS_SLOTS, statuses, strict=False))
    values = {**slots, "owner": owner, "limit": options.max_open_cases}
    return tuple(refs.case(row) for row in runner.rows(statement, values))


def _contacts(rows: Sequence[Mapping[str, Any]], refs: RefMaker) -> dict[int, Contact]:
    """Fold one-row-per-phone results into contacts, keeping the rows' order."""
    first_rows: dict[int, Mapping[str, Any]] = {}
    phones: dict[int, list[str]] = {}
    for row in rows:
        key = row["id"]
        if key not in first_rows:
            first_rows[key] = row
            phones[key] = []
        if row["phone"] is not None:
            phones[key].append(phone_with_extension(row["phone"], row["phone_extension"]))
    return {
        key: refs.contact(row, tuple(phones[key]), refs.account(row, prefix="account_"))
        for key, row in first_rows.items()
    }
