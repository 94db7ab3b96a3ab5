"""Make untrusted text storable: what PostgreSQL and SQLite refuse is removed, not sent.

Caller names, notes and search queries come from phones and browsers. PostgreSQL refuses NUL
in text, neither driver can encode a lone surrogate, and PostgreSQL refuses a value longer than
its ``VARCHAR(n)``; each would turn one odd call into a write that fails on every retry.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    column_type = table.c[key].type
    if isinstance(column_type, String) and column_type.length is not None:
        return cleaned[: column_type.length]
    return cleaned
