"""The caller-ID lookup as one SQL statement: one round trip whatever it finds.

:func:`crm_connectors.builtin.reads.lookup` asks in up to three statements (contacts, then per
match its open cases and its calls), each a round trip on PostgreSQL. This statement returns
every matched contact with its account, and each one's phones, open cases and recent calls as
JSON arrays built by the database; when no contact has the number, the same statement returns
the accounts whose main number it is. The answer is the same (a test compares the two on both
backends): same matches, same order, same limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from crm_connectors.base import CallHistoryEntry, Case, LookupOptions, Match, MatchKind
from crm_connectors.builtin.rows import ACCOUNT, CONTACT, RefMaker, history_entry

__all__ = ["lookup_parameters", "lookup_sql", "lookup_statement", "matches_from_rows"]

_CASE_KEYS = ("id", "number", "subject", "status", "opened_at", "owner_name", "origin")
_CALL_KEYS = (
    "call_id",
    "started_at",
    "direction",
    "outcome",
    "caller_number",
    "called_number",
    "answered_by",
    "duration_seconds",
    "disposition",
    "notes",
    "recordings",
)
_ACCOUNT_KEYS = ("id", "name", "phone_e164", "account_type", "industry")


def _dialect(name: str) -> dict[str, str]:
    """Return the SQL pieces that differ between SQLite and PostgreSQL."""
    if name == "sqlite":
        return {
            "agg": "json_group_array({row})",  # rows come in the subquery's order
            "row": "json_array({cols})",
            "open": "lower(status) IN (SELECT value FROM json_each({statuses}))",
            "empty": "'[]'",
        }
    return {
        "agg": "COALESCE(json_agg({row}), '[]'::json)",  # json_agg keeps the subquery's order
        "row": "json_build_array({cols})",
        "open": "lower(status) = ANY({statuses})",
        "empty": "'[]'::json",
    }


def _array(d: dict[str, str], cols: Sequence[str], source: str) -> str:
    """Return a subquery giving ``source``'s rows as one JSON array (of arrays, or of values
    when there is one column)."""
    row = cols[0] if len(cols) == 1 else d["row"].format(cols=", ".join(cols))
    return f"(SELECT {d['agg'].format(row=row)} FROM ({source}) AS agg)"  # noqa: S608


def lookup_sql(dialect: str) -> str:
    """Return the lookup statement for ``dialect`` with ``{name}`` placeholders for values."""
    d = _dialect(dialect)
    open_cases = d["open"].format(statuses="{statuses}")
    cases = ", ".join(_CASE_KEYS)
    calls = ", ".join(_CALL_KEYS)

    def cases_of(owner: str) -> str:
        source = (
            f"SELECT {cases} FROM crm_cases WHERE {owner} AND {open_cases} "  # noqa: S608
            "ORDER BY opened_at DESC, id DESC LIMIT {max_cases}"
        )
        return _array(d, _CASE_KEYS, source)

    def calls_of(kind: str, key: str, numbers: str) -> str:
        source = (
            f"SELECT {calls} FROM crm_calls WHERE id IN (SELECT call_pk FROM crm_call_matches "  # noqa: S608
            f"WHERE system = {{system}} AND object_type = '{kind}' "
            f"AND record_id = CAST({key} AS TEXT)) OR external_e164 {numbers} "
            "ORDER BY started_at DESC, id DESC LIMIT {max_history}"
        )
        return _array(d, _CALL_KEYS, source)

    # Each phone as cti.numbers.phone_with_extension writes it: "+442079460958;ext=12".
    phones = _array(
        d,
        ("phone",),
        "SELECT CASE WHEN extension IS NULL THEN e164 ELSE e164 || ';ext=' || extension END "
        "AS phone FROM crm_contact_phones WHERE contact_id = c.id ORDER BY position, id",
    )
    contact_calls = calls_of(
        CONTACT, "c.id", "IN (SELECT e164 FROM crm_contact_phones WHERE contact_id = c.id)"
    )
    account_cols = ", ".join(f"a.{key}" for key in _ACCOUNT_KEYS)
    return (
        "WITH hit AS (SELECT contact_id FROM crm_contact_phones WHERE e164 = {e164} "  # noqa: S608
        "ORDER BY contact_id LIMIT {max_matches}) "
        f"SELECT 0 AS kind, c.id AS key, c.first_name, c.last_name, c.email, c.title, "
        f"{account_cols}, {phones}, {cases_of('contact_id = c.id')}, {contact_calls} "
        "FROM hit JOIN crm_contacts c ON c.id = hit.contact_id "
        "LEFT JOIN crm_accounts a ON a.id = c.account_id "
        f"UNION ALL SELECT 1, a.id, NULL, NULL, NULL, NULL, {account_cols}, {d['empty']}, "
        f"{cases_of('account_id = a.id')}, {calls_of(ACCOUNT, 'a.id', '= a.phone_e164')} "
        f"FROM (SELECT {', '.join(_ACCOUNT_KEYS)} FROM crm_accounts WHERE phone_e164 = {{e164}} "
        "AND NOT EXISTS (SELECT 1 FROM hit) ORDER BY id LIMIT {max_matches}) AS a "
        "ORDER BY kind, key"
    )


_NAMES = ("e164", "max_matches", "statuses", "max_cases", "max_history", "system")


def lookup_statement(dialect: str) -> str:
    """Return the lookup statement in the driver's parameter style (sqlite3 ``:name``,
    psycopg ``%(name)s``)."""
    style = ":{}" if dialect == "sqlite" else "%({})s"
    return lookup_sql(dialect).format(**{name: style.format(name) for name in _NAMES})


def lookup_parameters(
    dialect: str, e164: str, options: LookupOptions, system: str
) -> dict[str, Any]:
    """Return the values of :func:`lookup_sql`'s placeholders for one lookup."""
    return {**_option_values(dialect, options, system), "e164": e164}


@lru_cache(maxsize=64)
def _option_values(dialect: str, options: LookupOptions, system: str) -> dict[str, Any]:
    # The same few options come with every lookup: work their values out once.
    statuses = list(dict.fromkeys(status.lower() for status in options.open_case_statuses))
    return {
        "max_matches": max(0, options.max_matches),
        "statuses": json.dumps(statuses) if dialect == "sqlite" else statuses,
        "max_cases": max(0, options.max_open_cases) if statuses else 0,
        "max_history": max(0, options.max_history),
        "system": system,
    }


def matches_from_rows(rows: Sequence[Sequence[Any]], refs: RefMaker) -> tuple[Match, ...]:
    """Turn the statement's rows into matches, as :func:`reads.lookup` returns them."""
    matches = []
    for row in rows:
        kind, key, first, last, email, title = row[:6]
        account = refs.account(dict(zip(_ACCOUNT_KEYS, row[6:11], strict=True)))
        phones, cases, calls = (_json(value) for value in row[11:14])
        open_cases = tuple(_case(values, refs) for values in cases)
        history = tuple(_call(values) for values in calls)
        if kind == 0:
            fields = {"id": key, "first_name": first, "last_name": last, "email": email}
            contact = refs.contact({**fields, "title": title}, tuple(phones), account)
            matches.append(
                Match(
                    kind=MatchKind.CONTACT,
                    contact=contact,
                    account=account,
                    open_cases=open_cases,
                    history=history,
                )
            )
        else:
            assert account is not None
            matches.append(
                Match(
                    kind=MatchKind.ACCOUNT, account=account, open_cases=open_cases, history=history
                )
            )
    return tuple(matches)


def _json(value: Any) -> list[Any]:
    """Read a JSON array column (psycopg may have parsed it already)."""
    if value == "[]" or value is None:
        return []  # most contacts have no open case and no call
    if isinstance(value, str | bytes):
        parsed: list[Any] = json.loads(value)
        return parsed
    return list(value) if value is not None else []


def _utc(value: str) -> datetime:
    """Read a time from the JSON: SQLite's naive UTC text or PostgreSQL's ISO 8601 with offset."""
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _case(values: Sequence[Any], refs: RefMaker) -> Case:
    row: dict[str, Any] = dict(zip(_CASE_KEYS, values, strict=True))
    row["opened_at"] = _utc(row["opened_at"])
    return refs.case(row)


def _call(values: Sequence[Any]) -> CallHistoryEntry:
    row: Mapping[str, Any] = dict(zip(_CALL_KEYS, values, strict=True))
    fixed = {
        **row,
        "started_at": _utc(row["started_at"]),
        "duration_seconds": float(row["duration_seconds"]),
    }
    return history_entry(fixed)
