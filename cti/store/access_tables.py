"""The access-number tables (:mod:`cti.access_numbers`), on the store's one MetaData (imported
by :mod:`cti.store`), so the migrations and the schema test see them.

A pool is a set of DIDs (each already routed to a group by the DID map) handed out to callers
for a short time. A reservation is one interaction a company's backend asked for: while
``hold`` is set it is live; ``hold`` is unique, so two live holds of one DID for one caller
(or two exclusive holds of one DID) cannot both commit, whatever the number of daemon processes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from cti.sqltypes import UtcDateTime
from cti.store.models import metadata

__all__ = [
    "access_key_windows",
    "access_keys",
    "access_numbers",
    "access_pools",
    "access_refusals",
    "access_reservations",
]

POLICIES = ("refuse", "take_oldest")

access_pools = Table(
    "access_pools",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("purpose", String(255), nullable=False, server_default=""),
    Column("group_name", String(64)),  # the agent group its calls are for (informative)
    Column("hold_seconds", Integer, nullable=False, server_default="120"),
    Column("policy", String(16), nullable=False, server_default="refuse"),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("hold_seconds BETWEEN 10 AND 3600", name="hold_seconds"),
    CheckConstraint("policy IN ('refuse', 'take_oldest')", name="policy"),
)

access_numbers = Table(
    "access_numbers",
    metadata,
    Column("did", String(64), primary_key=True),  # as the PBX reports it (CallView.did)
    Column("pool_id", ForeignKey(access_pools.c.id, ondelete="CASCADE"), nullable=False),
    Column("e164", String(20), nullable=False),  # what a customer dials
    Column("last_used_at", UtcDateTime),  # least recently used first
    Index(None, "pool_id"),
)

access_reservations = Table(
    "access_reservations",
    metadata,
    Column("id", String(40), primary_key=True),  # the interaction id, "ix_" + random
    Column("pool_id", ForeignKey(access_pools.c.id, ondelete="CASCADE"), nullable=False),
    Column("did", String(64), nullable=False),
    Column("caller", String(20)),  # E.164; NULL: unknown, the DID is held exclusively
    Column("hold", String(96), unique=True),  # "did|caller" or "did|*" while live, else NULL
    Column("customer_phone", String(20)),
    Column("customer_crm_id", String(128)),
    Column("context", JSON, nullable=False),
    Column("key_id", Integer),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("call_id", String(255)),
    CheckConstraint("state IN ('live', 'matched', 'expired', 'cancelled')", name="state"),
    Index(None, "pool_id", "state"),
    Index(None, "did", "state"),
    Index(None, "ended_at"),
)

access_refusals = Table(
    "access_refusals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pool_id", ForeignKey(access_pools.c.id, ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "pool_id", "at"),
)

# API keys of companies' backends: only a SHA-256 of the key is kept (keys are 256 random
# bits, so a slow hash adds nothing); ``prefix`` lets an admin tell keys apart.
access_keys = Table(
    "access_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("pools", JSON, nullable=False),  # pool names it may reserve from
    Column("per_minute", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    CheckConstraint("per_minute BETWEEN 1 AND 100000", name="per_minute"),
)

# Each key's requests per minute (window_start: the minute), shared by every daemon process on
# the store: the rate limit is a sliding window over this minute and the one before it.
access_key_windows = Table(
    "access_key_windows",
    metadata,
    Column("key_id", Integer, primary_key=True),
    Column("window_start", UtcDateTime, primary_key=True),
    Column("count", Integer, nullable=False),
)
