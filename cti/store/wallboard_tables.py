"""The wallboard's alert thresholds per agent group (cti.supervision.thresholds), on the store's
MetaData (migration s0021).

One row per group that has thresholds (no row: no alerts). Keyed by the group's id, so a renamed
group keeps its thresholds and a deleted one takes them with it (ON DELETE CASCADE). A NULL
column means no alert of that kind.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Integer, Table

from cti.sqltypes import UtcDateTime
from cti.store.models import USERNAME, agent_groups, metadata

__all__ = ["wallboard_thresholds"]

wallboard_thresholds = Table(
    "wallboard_thresholds",
    metadata,
    Column("group_id", ForeignKey(agent_groups.c.id, ondelete="CASCADE"), primary_key=True),
    Column("max_waiting", Integer),  # callers waiting in one queue
    Column("max_wait_s", Integer),  # the longest wait in one queue
    Column("min_service_level_pct", Float),  # today's service level of a queue
    Column("max_paused", Integer),  # agents of the group paused at once
    Column("updated_by", USERNAME, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
