"""The SOSL and SOQL the connector sends, built from values that may come from an attacker.

Pure string building, no I/O. Caller IDs arrive from anyone who can reach a SIP trunk and agents
type search text freely, so every value goes through one of two escapes before it is spliced in:

- :func:`escape_sosl` for the text inside ``FIND {...}``: a backslash before each character the
  SOQL and SOSL Reference ("FIND {SearchQuery}", "Reserved Characters") lists as reserved,
  ``? & | ! { } [ ] ( ) ^ ~ * : \\ " ' + -``. Every term is also wrapped in double quotes, so
  a word such as ``OR`` typed by a caller is a search term, never an operator.
- :func:`soql_literal` for a quoted SOQL string: the escape sequences of "Quoted String Escape
  Sequences" (``\\'``, ``\\"``, ``\\\\``, ``\\n``, ...).

Record ids are checked against the 15/18 character id alphabet before they are written into an
``IN (...)`` list (:func:`checked_id`). Field and object names come from validated settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cti.errors import NotFound
from cti.numbers import dialable_forms

__all__ = [
    "ACCOUNT_FIELDS",
    "CASE_FIELDS",
    "SOSL_RESERVED",
    "TASK_FIELDS",
    "checked_id",
    "contact_fields",
    "escape_sosl",
    "lead_fields",
    "open_cases_query",
    "phone_search",
    "record_query",
    "soql_literal",
    "task_by_call_object_query",
    "tasks_query",
    "text_search",
]

SOSL_RESERVED = frozenset("?&|!{}[]()^~*:\\\"'+-")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_MAX_WORDS = 6
_MAX_WORD = 80

ACCOUNT_FIELDS = ("Id", "Name", "Phone", "Type", "Industry")
_CONTACT_BASE = (
    "Id",
    "Name",
    "FirstName",
    "LastName",
    "Email",
    "Title",
    "AccountId",
    "Account.Name",
    "Account.Phone",
    "Account.Type",
    "Account.Industry",
)
_LEAD_BASE = ("Id", "Name", "FirstName", "LastName", "Company", "Email", "Title")
CASE_FIELDS = (
    "Id",
    "CaseNumber",
    "Subject",
    "Status",
    "Origin",
    "CreatedDate",
    "Owner.Name",
    "ContactId",
    "AccountId",
)
TASK_FIELDS = (
    "Id",
    "Subject",
    "CallType",
    "CallDurationInSeconds",
    "CallDisposition",
    "CallObject",
    "Description",
    "CreatedDate",
    "WhoId",
    "WhatId",
    "AccountId",
    "Owner.Name",
)
_SEARCH_RETURNING = (
    "Contact(Id, Name, Email, Title, Phone, MobilePhone, Account.Name LIMIT {limit}), "
    "Account(Id, Name, Phone, Type, Industry LIMIT {limit}), "
    "Case(Id, CaseNumber, Subject, Status, Contact.Name, Account.Name LIMIT {limit})"
)


def escape_sosl(text: str) -> str:
    """Return ``text`` with every SOSL reserved character escaped and control characters
    turned into spaces, for use inside ``FIND {...}``."""
    text = _CONTROL.sub(" ", text)
    return "".join(f"\\{char}" if char in SOSL_RESERVED else char for char in text)


def soql_literal(text: str) -> str:
    """Return ``text`` as a quoted SOQL string literal."""
    return "'" + "".join(_SOQL_ESCAPES.get(char, char) for char in text) + "'"


def checked_id(record_id: str) -> str:
    """Return ``record_id`` if it can be a Salesforce id; raise NotFound otherwise."""
    if not _ID.fullmatch(record_id):
        raise NotFound("not a Salesforce record id", details={"record_id": record_id[:64]})
    return record_id


def contact_fields(phone_fields: Sequence[str]) -> tuple[str, ...]:
    return (*_CONTACT_BASE, *phone_fields)


def lead_fields(phone_fields: Sequence[str]) -> tuple[str, ...]:
    return (*_LEAD_BASE, *phone_fields)


def phone_search(
    e164: str,
    *,
    objects: Sequence[str],
    contact_phones: Sequence[str],
    lead_phones: Sequence[str],
    limit: int,
) -> str:
    """Return the SOSL finding records with ``e164`` in any of the forms people store it in."""
    terms = _any_of(dialable_forms(e164))
    parts = []
    for name in objects:
        if name == "Contact":
            parts.append(f"Contact({_list(contact_fields(contact_phones))} LIMIT {limit})")
        elif name == "Lead":
            fields = _list(lead_fields(lead_phones))
            parts.append(f"Lead({fields} WHERE IsConverted = false LIMIT {limit})")
        else:
            parts.append(f"Account({_list(ACCOUNT_FIELDS)} LIMIT {limit})")
    return f"FIND {{{terms}}} IN PHONE FIELDS RETURNING {', '.join(parts)}"


def text_search(query: str, limit: int, e164: str | None) -> str | None:
    """Return the SOSL for an agent's search box, or None when nothing in it is searchable.

    A query that reads as a phone number (``e164`` given) looks for every stored form of it,
    and for the text as typed (a case number can look like a phone number); anything else
    looks for records holding all its words (at most six, each two characters or more:
    Salesforce refuses shorter search terms).
    """
    if e164 is not None:
        terms = _any_of(dict.fromkeys((*dialable_forms(e164), query.strip()[:_MAX_WORD])))
    else:
        words = [word[:_MAX_WORD] for word in query.split() if len(word) >= 2][:_MAX_WORDS]
        if not words:
            return None
        terms = " AND ".join(f'"{escape_sosl(word)}"' for word in words)
    returning = _SEARCH_RETURNING.format(limit=limit)
    return f"FIND {{{terms}}} IN ALL FIELDS RETURNING {returning}"


def open_cases_query(contact_ids: Sequence[str], account_ids: Sequence[str], limit: int) -> str:
    """Return the SOQL for the open cases of some contacts and accounts, newest first."""
    owners = []
    if contact_ids:
        owners.append(f"ContactId IN {_ids(contact_ids)}")
    if account_ids:
        owners.append(f"AccountId IN {_ids(account_ids)}")
    where = f"IsClosed = false AND ({' OR '.join(owners)})"
    return _select(CASE_FIELDS, "Case", where, f"ORDER BY CreatedDate DESC LIMIT {limit}")


def tasks_query(who_ids: Sequence[str], account_ids: Sequence[str], limit: int) -> str:
    """Return the SOQL for the call Tasks of some people and accounts, newest first."""
    related = []
    if who_ids:
        related.append(f"WhoId IN {_ids(who_ids)}")
    if account_ids:
        related.append(f"AccountId IN {_ids(account_ids)}")
    where = f"TaskSubtype = 'Call' AND ({' OR '.join(related)})"
    return _select(TASK_FIELDS, "Task", where, f"ORDER BY CreatedDate DESC LIMIT {limit}")


def task_by_call_object_query(call_id: str) -> str:
    """Return the SOQL for the Task already logged for ``call_id``, if any."""
    return _select(("Id",), "Task", f"CallObject = {soql_literal(call_id)}", "LIMIT 1")


def record_query(object_name: str, fields: Sequence[str], record_id: str) -> str:
    """Return the SOQL reading one record by id."""
    return _select(fields, object_name, f"Id = {soql_literal(checked_id(record_id))}")


def _select(fields: Iterable[str], object_name: str, where: str, tail: str = "") -> str:
    # Every value in ``where`` went through soql_literal or checked_id; names are validated.
    soql = f"SELECT {_list(fields)} FROM {object_name} WHERE {where}"  # noqa: S608
    return f"{soql} {tail}" if tail else soql


def _any_of(forms: Iterable[str]) -> str:
    return " OR ".join(f'"{escape_sosl(form)}"' for form in forms)


def _list(fields: Iterable[str]) -> str:
    return ", ".join(fields)


def _ids(ids: Sequence[str]) -> str:
    return "(" + ", ".join(soql_literal(checked_id(i)) for i in ids) + ")"
