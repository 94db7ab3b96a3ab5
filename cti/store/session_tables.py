"""The web sessions table (:mod:`cti.accounts`), on the store's one MetaData (imported by
:mod:`cti.store`), so the migrations (s0009) and the schema test see it.

A session row is keyed by a hash of the cookie's session id: reading the table gives no cookie.
It remembers the role and a tag of the password hash the user logged in with, so a role change,
a new password, a deleted or deactivated account ends the session at its next use, whichever
path (admin console, import, script) changed the account.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from cti.sqltypes import UtcDateTime
from cti.store.models import metadata

__all__ = ["web_sessions"]

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the cookie's session id
    Column("username", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # the role the session was granted
    Column("password_tag", String(64), nullable=False),  # sha256 hex of the hash at login
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("idle_s", Integer, nullable=False),  # idle this long, the session ends
    Column("ended_at", UtcDateTime),  # set on logout; NULL while it may be used
    Column("end_reason", String(40)),
    Index(None, "username"),
    Index(None, "expires_at"),
)
