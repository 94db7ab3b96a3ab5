"""The web sessions and TOTP tables (:mod:`cti.accounts`), on the store's one MetaData (imported by
:mod:`cti.store`), so the migrations (s0009) and the schema test see it.

A session row is keyed by a hash of the cookie's session id: reading the table gives no cookie.
It remembers the role and a tag of the password hash the user logged in with, so a role change,
a new password, a deleted or deactivated account ends the session at its next use, whichever
path (admin console, import, script) changed the account.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from cti.sqltypes import UtcDateTime
from cti.store.models import agents, metadata

__all__ = ["oidc_links", "oidc_pending", "oidc_sessions", "totp_secrets", "web_sessions"]

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

# A user's TOTP second factor (RFC 6238; cti.accounts.totp), migration s0015. The secret is
# sealed (cti.secretbox): a dump of the database gives no codes. ``confirmed_at`` NULL: an
# enrolment begun and not yet proven with a code (it asks nothing at login). ``last_step``: the
# time step of the last code accepted, so a code is used once (RFC 6238, section 5.2).
totp_secrets = Table(
    "totp_secrets",
    metadata,
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), primary_key=True),
    Column("secret", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime),
    Column("last_step", Integer, nullable=False, server_default="0"),
)

# Users who sign in through the OpenID Connect provider (cti.accounts.oidc), migration s0017:
# which provider account each is (issuer, subject), so a provider user never takes over a local
# account of the same name; and per web session, the provider's tokens (sealed) and when the
# user was last found still valid there.
oidc_links = Table(
    "oidc_links",
    metadata,
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), primary_key=True),
    Column("issuer", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    UniqueConstraint("issuer", "subject"),
)

oidc_sessions = Table(
    "oidc_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # the web session's key (sha256 of its id)
    Column("username", String(64), nullable=False),
    Column("access_token", Text, nullable=False),  # sealed
    Column("refresh_token", Text),  # sealed
    Column("checked_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),  # the web session's; swept after it
    Index(None, "expires_at"),
)

# Single sign-ons in progress (cti.accounts.oidc_pending), migration s0020: kept in the store so
# the provider's redirect back may reach any daemon process. Keyed by a hash of the browser's
# cookie value; taken (deleted) once; the PKCE verifier sealed.
oidc_pending = Table(
    "oidc_pending",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the cookie's value
    Column("state", String(128), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("verifier", Text, nullable=False),  # sealed
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "expires_at"),
)
