"""The recording tables, on the store's MetaData (created by migration s0011).

``recording_policies`` holds each agent group's recording and monitoring settings, keyed by the
group's name (a group without a row: never recorded, agent told, 90 days). ``recordings`` holds
one row per recorded call leg: the file Asterisk writes (``<id>.wav`` in its monitor directory),
who was on it, and the spans the agent paused (seconds from the start, silence in the file).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, Index, Integer, String, Table

from cti.sqltypes import UtcDateTime
from cti.store.models import metadata

__all__ = ["recording_policies", "recordings"]

recording_policies = Table(
    "recording_policies",
    metadata,
    Column("group_name", String(64), primary_key=True),
    Column("policy", String(8), nullable=False, server_default="never"),
    Column("tell_agent", Boolean, nullable=False, server_default="1"),
    Column("retention_days", Integer, nullable=False, server_default="90"),
    Column("announcement", String(64), nullable=False, server_default=""),  # s0018; "": none
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("policy IN ('never', 'always', 'demand')", name="policy"),
    CheckConstraint("retention_days BETWEEN 1 AND 3650", name="retention_days"),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(64), primary_key=True),  # also the file's name, without .wav
    Column("call_id", String(128), nullable=False),
    Column("server", String(64), nullable=False),
    Column("agent", String(64), nullable=False),  # the username whose phone answered
    Column("group_name", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("pauses", JSON, nullable=False),  # [[from_s, to_s | null], ...]
    Column("deleted_at", UtcDateTime),  # the sweeper removed the file (retention)
    Index(None, "call_id"),
    Index(None, "started_at"),
)
