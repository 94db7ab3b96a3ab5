"""The built-in CRM's agent search: by name, email, number or case number.

The query is text an agent typed (or pasted from anywhere), so it only ever travels as a bound
parameter, and ``LIKE`` patterns escape ``%``, ``_`` and the escape character itself
(``autoescape``): searching ``100%`` finds ``100%``, not everything starting ``100``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, or_, select

from crm_connectors.base import Contact, SearchHit, SearchKind
from crm_connectors.builtin.models import accounts, cases, contact_phones, contacts
from crm_connectors.builtin.reads import contacts_by_ids
from crm_connectors.builtin.rows import ACCOUNT, CASE, RefMaker
from crm_connectors.builtin.text import clean_text
from cti.numbers import to_e164

__all__ = ["MAX_QUERY", "search_records"]

#: Longer queries are cut: nobody types more, and a huge LIKE pattern only costs the database.
MAX_QUERY = 100
_NUMBER_LIKE = re.compile(r"\+?[0-9 ()./\-]+")
_MIN_PARTIAL_DIGITS = 4  # fewer digits would match half the phone book


def search_records(
    conn: Connection, query: str, limit: int, refs: RefMaker, default_region: str
) -> list[SearchHit]:
    """Return up to ``limit`` hits for ``query``: phone matches first, then contacts, accounts
    and cases whose text contains it (case-insensitively)."""
    text = clean_text(query).strip()[:MAX_QUERY]
    if not text or limit <= 0:
        return []
    contact_ids = [
        key
        for statement in (*_contacts_by_number(text, default_region), _contacts_by_text(text))
        for key in conn.execute(statement.limit(limit)).scalars()
    ]
    unique_ids = list(dict.fromkeys(contact_ids))
    found = contacts_by_ids(conn, unique_ids, refs)
    hits = [_contact_hit(found[key]) for key in unique_ids if key in found]
    hits += _account_hits(conn, text, default_region, limit, refs)
    hits += _case_hits(conn, text, limit, refs)
    return hits[:limit]


def _contacts_by_number(text: str, region: str) -> list[Select[Any]]:
    """Select contacts with the number ``text`` (exactly), then with its digits in a number."""
    conditions: list[ColumnElement[bool]] = []
    e164 = to_e164(text, region)
    if e164 is not None:
        conditions.append(contact_phones.c.e164 == e164)
    digits = "".join(ch for ch in text if ch.isdigit())
    if _NUMBER_LIKE.fullmatch(text) and len(digits) >= _MIN_PARTIAL_DIGITS:
        conditions.append(contact_phones.c.e164.contains(digits, autoescape=True))
    return [
        select(contact_phones.c.contact_id)
        .where(condition)
        .distinct()
        .order_by(contact_phones.c.contact_id)
        for condition in conditions
    ]


def _contacts_by_text(text: str) -> Select[Any]:
    full_name = contacts.c.first_name + " " + contacts.c.last_name
    return (
        select(contacts.c.id)
        .where(
            or_(
                full_name.icontains(text, autoescape=True),
                contacts.c.email.icontains(text, autoescape=True),
            )
        )
        .order_by(contacts.c.last_name, contacts.c.first_name, contacts.c.id)
    )


def _account_hits(
    conn: Connection, text: str, region: str, limit: int, refs: RefMaker
) -> list[SearchHit]:
    condition = accounts.c.name.icontains(text, autoescape=True)
    e164 = to_e164(text, region)
    if e164 is not None:
        condition = or_(condition, accounts.c.phone_e164 == e164)
    statement = select(accounts).where(condition).order_by(accounts.c.name, accounts.c.id)
    hits = []
    for row in conn.execute(statement.limit(limit)):
        subtitle = " · ".join(part for part in (row.account_type, row.industry) if part)
        hits.append(
            SearchHit(
                kind=SearchKind.ACCOUNT,
                ref=refs.ref(ACCOUNT, row.id),
                title=row.name,
                subtitle=subtitle,
                phones=(row.phone_e164,) if row.phone_e164 else (),
            )
        )
    return hits


def _case_hits(conn: Connection, text: str, limit: int, refs: RefMaker) -> list[SearchHit]:
    statement = (
        select(cases)
        .where(
            or_(
                cases.c.number.icontains(text, autoescape=True),
                cases.c.subject.icontains(text, autoescape=True),
            )
        )
        .order_by(cases.c.opened_at.desc(), cases.c.id.desc())
        .limit(limit)
    )
    return [
        SearchHit(
            kind=SearchKind.CASE,
            ref=refs.ref(CASE, row.id),
            title=f"{row.number}: {row.subject}",
            subtitle=" · ".join(part for part in (row.status, row.owner_name) if part),
        )
        for row in conn.execute(statement)
    ]


def _contact_hit(contact: Contact) -> SearchHit:
    account_name = contact.account.name if contact.account else None
    parts = (account_name, contact.title, contact.email)
    return SearchHit(
        kind=SearchKind.CONTACT,
        ref=contact.ref,
        title=contact.display_name,
        subtitle=" · ".join(part for part in parts if part),
        phones=contact.phones,
    )
