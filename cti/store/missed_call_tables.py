"""The missed-calls table (cti.missed_calls), on the store's MetaData (migration s0016).

One row per agent and call that rang that agent and was answered by no one. ``(agent,
call_id)`` is unique, so a call written twice (a retried write, a call restored after a
restart) stays one entry. ``seen_at`` is set when the agent marks it seen or calls back.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, UniqueConstraint

from cti.sqltypes import UtcDateTime
from cti.store.models import CALL_ID, USERNAME, metadata

__all__ = ["missed_calls"]

missed_calls = Table(
    "missed_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agent", USERNAME, nullable=False),  # the username the call rang
    Column("call_id", CALL_ID, nullable=False),
    Column("caller_number", String(64), nullable=False),
    Column("caller_name", String(200), nullable=False, server_default=""),
    Column("direction", String(16), nullable=False),
    Column("queue", String(64)),
    Column("did", String(64)),
    Column("rang_at", UtcDateTime, nullable=False),  # the call's start
    Column("ended_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime),
    UniqueConstraint("agent", "call_id"),
    Index(None, "agent", "id"),
    Index(None, "ended_at"),
)
