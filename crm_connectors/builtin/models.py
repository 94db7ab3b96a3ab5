"""The built-in CRM's tables, as SQLAlchemy Core, on their own MetaData.

Every table is prefixed ``crm_`` so the CRM can share a database with the daemon's own store;
the Alembic migrations in :mod:`crm_connectors.builtin.migrations` create exactly this schema
(a test compares them). Phone numbers are stored as E.164 only (a contact's phone keeps its
extension, ``ext. 12``, in a column of its own, so lookups still match the main number); times
as UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cti.sqltypes import UtcDateTime

__all__ = [
    "PREFIX",
    "UtcDateTime",
    "accounts",
    "call_matches",
    "calls",
    "cases",
    "contact_phones",
    "contacts",
    "metadata",
]

PREFIX = "crm_"

# Deterministic constraint names, so migrations can name what they alter or drop later.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

E164 = String(16)  # "+" and at most 15 digits
EXTENSION = String(10)  # DTMF digits sent after the far end answers (cti.numbers.EXTENSION_PATTERN)


accounts = Table(
    f"{PREFIX}accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("external_id", String(64), unique=True),  # key of an import source (or the demo seed)
    Column("name", String(255), nullable=False),
    Column("phone_e164", E164, index=True),
    Column("account_type", String(64)),
    Column("industry", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
)

contacts = Table(
    f"{PREFIX}contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("external_id", String(64), unique=True),
    Column("account_id", ForeignKey(accounts.c.id, ondelete="SET NULL"), index=True),
    Column("first_name", String(128), nullable=False, server_default=""),
    Column("last_name", String(128), nullable=False, server_default=""),
    Column("email", String(255)),
    Column("title", String(128)),
    Column("created_at", UtcDateTime, nullable=False),
)

# Several numbers per contact, and one number may belong to several contacts (a shared office
# line): the unique (e164, contact_id) pair is also the index the lookup hot path probes.
contact_phones = Table(
    f"{PREFIX}contact_phones",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", ForeignKey(contacts.c.id, ondelete="CASCADE"), nullable=False),
    Column("e164", E164, nullable=False),
    Column("extension", EXTENSION),  # None for most numbers; never part of the lookup
    Column("label", String(32)),  # mobile, work, home, ...
    Column("position", Integer, nullable=False, server_default="0"),  # 0 is the main number
    UniqueConstraint("e164", "contact_id"),
    Index(None, "contact_id", "position"),  # a contact's phones in order, without a sort
)

cases = Table(
    f"{PREFIX}cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("owner_name", String(128)),
    Column("origin", String(32)),
    Column("contact_id", ForeignKey(contacts.c.id, ondelete="SET NULL")),
    Column("account_id", ForeignKey(accounts.c.id, ondelete="SET NULL")),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    # A record's cases newest first, read backwards until enough open ones are found.
    Index(None, "contact_id", "opened_at"),
    Index(None, "account_id", "opened_at"),
)

# One row per finished call; call_id (server:linkedid) is the idempotency key of log_call.
calls = Table(
    f"{PREFIX}calls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("call_id", String(255), nullable=False, unique=True),
    Column("server", String(255), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("ended_at", UtcDateTime, nullable=False),
    Column("caller_number", String(64), nullable=False),
    Column("caller_name", String(255), nullable=False, server_default=""),
    Column("called_number", String(64), nullable=False),
    Column("external_e164", E164),  # the far party, normalized, for history by number
    Column("did", String(64)),
    Column("trunk", String(255)),
    Column("queue", String(255)),
    Column("wait_seconds", Float),
    Column("talk_seconds", Float, nullable=False, server_default="0"),
    Column("hold_seconds", Float, nullable=False, server_default="0"),
    Column("duration_seconds", Float, nullable=False, server_default="0"),
    Column("agents_rung", JSON, nullable=False),
    Column("answered_by", String(255)),
    Column("notes", Text, nullable=False, server_default=""),
    Column("disposition", String(255)),
    Column("flags", JSON, nullable=False),
    Column("recordings", JSON, nullable=False, server_default="[]"),  # links (r0003)
    Column("logged_at", UtcDateTime, nullable=False),
    Index(None, "external_e164", "started_at"),
)

# CallRecord.matches: the records (in this or any CRM) the call was matched to.
call_matches = Table(
    f"{PREFIX}call_matches",
    metadata,
    Column("call_pk", ForeignKey(calls.c.id, ondelete="CASCADE"), primary_key=True),
    Column("system", String(64), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("record_id", String(255), primary_key=True),
    Index(None, "system", "object_type", "record_id"),
)
