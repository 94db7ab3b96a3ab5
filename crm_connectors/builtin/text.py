"""Make untrusted text storable: what PostgreSQL and SQLite refuse is removed, not sent.

Caller names, notes and search queries come from phones and browsers. PostgreSQL refuses NUL
in text, neither driver can encode a lone surrogate, and PostgreSQL refuses a value longer than
its ``VARCHAR(n)``; each would turn one odd call into a write that fails on every retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from sqlalchemy import String, Table

__all__ = ["clean_text", "fitted"]


def clean_text(value: str) -> str:
    """Return ``value`` without NUL characters and with lone surrogates replaced by ``?``."""
    if value.isascii():
        return value.replace("\x00", "")
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def fitted(table: Table, values: Mapping[str, object]) -> dict[str, object]:
    """Return ``values`` with every string cleaned and cut to its column's length."""
    result: dict[str, object] = {}
    for key, value in values.items():
        result[key] = _fit(table, key, value) if isinstance(value, str) else value
    return result


def _fit(table: Table, key: str, value: str) -> str:
    cleaned = clean_text(value)
    length = _lengths(table).get(key)
    return cleaned if length is None else cleaned[:length]


@cache
def _lengths(table: Table) -> dict[str, int]:
    """The length of each of ``table``'s string columns that has one (read once per table)."""
    return {
        column.key: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    }
