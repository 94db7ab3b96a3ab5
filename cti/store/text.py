"""Make untrusted text storable: what PostgreSQL and SQLite refuse is removed, not sent.

Notes and names come from browsers; PostgreSQL refuses NUL in text and neither driver can
encode a lone surrogate, and either would make a save (or an end of call) fail on every retry.
"""

from __future__ import annotations

__all__ = ["clean_text"]


def clean_text(value: str) -> str:
    """Return ``value`` without NUL characters and with lone surrogates replaced by ``?``."""
    if value.isascii():
        return value.replace("\x00", "")
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
