"""The daemon's tables, as SQLAlchemy Core, on their own MetaData.

No table starts with ``crm_``: the built-in CRM may share the database and owns that prefix.
The Alembic migrations in :mod:`cti.store.migrations` create exactly this schema (a test
compares them). Times are stored as UTC.
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
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from cti.sqltypes import UtcDateTime

__all__ = [
    "UtcDateTime",
    "agent_endpoints",
    "agent_groups",
    "agent_profiles",
    "agents",
    "ami_servers",
    "call_notes",
    "events",
    "group_dids",
    "group_members",
    "group_queues",
    "group_supervisors",
    "live_calls",
    "metadata",
    "outbox",
    "template_versions",
    "trunk_groups",
]

# Deterministic constraint names, so migrations can name what they alter or drop later.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

USERNAME = String(64)
CALL_ID = String(255)  # server:linkedid, as CallRecord.call_id


agents = Table(
    "agents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", USERNAME, nullable=False, unique=True),
    Column("display_name", String(255), nullable=False, server_default=""),
    Column("email", String(255)),
    Column("password_hash", String(255)),  # argon2id; NULL: cannot log in until one is set
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),
)

# The phones an agent answers on (desk phone, softphone): pops follow the endpoint that rings.
agent_endpoints = Table(
    "agent_endpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), nullable=False, index=True),
    Column("endpoint", String(128), nullable=False, unique=True),  # e.g. PJSIP/1001
    Column("server", String(64)),  # the AMI server name; NULL: any
)

agent_groups = Table(
    "agent_groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("pop_trigger", String(16), nullable=False),
    Column("dispositions", JSON, nullable=False),
    Column("wrapup_seconds", Integer, nullable=False, server_default="0"),
    Column("template", Text),  # NULL: the product's default template
    Column("created_at", UtcDateTime, nullable=False),
    # which answered calls start wrap-up: queue, all, none (s0006)
    Column("wrapup_applies_to", String(8), nullable=False, server_default="queue"),
    CheckConstraint("pop_trigger IN ('ringing', 'answered')", name="pop_trigger"),
    CheckConstraint("wrapup_applies_to IN ('queue', 'all', 'none')", name="wrapup_applies_to"),
    CheckConstraint("wrapup_seconds >= 0", name="wrapup_seconds"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), primary_key=True),
    Column("added_at", UtcDateTime, nullable=False),  # an agent's first group is the oldest
    Index(None, "agent_id"),
)

group_supervisors = Table(
    "group_supervisors",
    metadata,
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), primary_key=True),
    Index(None, "agent_id"),
)

group_dids = Table(
    "group_dids",
    metadata,
    Column("did", String(64), primary_key=True),  # as the PBX reports it (CallRecord.did)
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), nullable=False),
    Index(None, "group_id"),
)

group_queues = Table(
    "group_queues",
    metadata,
    Column("queue", String(128), primary_key=True),  # the Asterisk queue name
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), nullable=False),
    Index(None, "group_id"),
)

# What an agent typed during (or after) a call; the username is text, not a key, so notes
# outlive the agent's account.
call_notes = Table(
    "call_notes",
    metadata,
    Column("call_id", CALL_ID, primary_key=True),
    Column("username", USERNAME, primary_key=True),
    Column("notes", Text, nullable=False, server_default=""),
    Column("disposition", String(255)),
    Column("disposition_at", UtcDateTime),  # when the disposition last changed
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per (call, connector): the unique pair makes "exactly once" hold across retries,
# restarts and duplicate end events. Rows are never deleted by the writer.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("call_id", CALL_ID, nullable=False),
    Column("connector", String(64), nullable=False),
    Column("payload", JSON, nullable=False),  # the CallRecord, see cti.store.codec
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime),
    Column("crm_id", String(255)),
    UniqueConstraint("call_id", "connector"),
    Index(None, "delivered_at", "next_attempt_at"),
)

# Calls up now, as the tracker's snapshots (cti.core.snapshot): what a restarted daemon takes
# back before its first resync. A call's row goes in the transaction that queues its record.
live_calls = Table(
    "live_calls",
    metadata,
    Column("call_id", CALL_ID, primary_key=True),
    Column("server", String(64), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("saved_at", UtcDateTime, nullable=False),
)

# Append-only history: admin actions, trunk events, anything someone will ask about later.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64)),  # a username, or NULL for the daemon itself
    Column("kind", String(64), nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "at"),
    Index(None, "kind", "at"),
)


# ------------------------------------------------------------------------ PBX admin (cti.admin)
# What bulk provisioning knows about an agent beyond the login: the names apart, the extension
# (its PJSIP endpoint), the Salesforce user, and the SIP secret's digest (never the secret).
agent_profiles = Table(
    "agent_profiles",
    metadata,
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), primary_key=True),
    Column("first_name", String(255), nullable=False, server_default=""),
    Column("last_name", String(255), nullable=False, server_default=""),
    Column("extension", String(32), nullable=False, unique=True),
    Column("salesforce_user", String(255)),
    Column("sip_digest", String(128)),  # MD5 of "extension:realm:secret" (PJSIP password_digest)
    Column("updated_at", UtcDateTime, nullable=False),
)

# Asterisk servers added at runtime by an admin (servers in the config file are not here).
ami_servers = Table(
    "ami_servers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("username", String(64), nullable=False),
    Column("secret", Text, nullable=False),  # sealed (cti.secretbox): AMI needs it back
    Column("tls", Boolean, nullable=False),
    Column("tls_ca_file", String(1024)),  # NULL: the system's trust store (pbx_adapters tls)
    Column("tls_verify", Boolean, nullable=False, server_default=true()),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# A trunk's default group: calls on it whose DID maps to no group pop with this group.
trunk_groups = Table(
    "trunk_groups",
    metadata,
    Column("server", String(64), primary_key=True),
    Column("trunk", String(128), primary_key=True),
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), nullable=False),
    Index(None, "group_id"),
)


# ------------------------------------------------------------- pop templates (supervisor console)
# Every save of a group's pop template is a version: the source (NULL: the product's standard
# template) and the configuration variables; publishing copies it onto the group and stamps it.
template_versions = Table(
    "template_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, 3... per group
    Column("source", Text),
    Column("settings", JSON, nullable=False),
    Column("author", USERNAME, nullable=False),
    Column("note", String(255), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),  # the last time it went live; the newest is live
    UniqueConstraint("group_id", "number"),
)
