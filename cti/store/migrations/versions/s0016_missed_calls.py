"""Missed calls per agent (cti.missed_calls): calls that rang an agent and nobody answered.

Revision ID: s0016
Revises: s0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "s0016"
down_revision: str | None = "s0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "missed_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("did", sa.String(length=64), nullable=True),
        sa.Column("rang_at", UTC_DATETIME, nullable=False),
        sa.Column("ended_at", UTC_DATETIME, nullable=False),
        sa.Column("seen_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_missed_calls"),
        sa.UniqueConstraint("agent", "call_id", name="uq_missed_calls_agent_call_id"),
    )
    op.create_index("ix_missed_calls_agent_id", "missed_calls", ["agent", "id"])
    op.create_index("ix_missed_calls_ended_at", "missed_calls", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_missed_calls_ended_at", table_name="missed_calls")
    op.drop_index("ix_missed_calls_agent_id", table_name="missed_calls")
    op.drop_table("missed_calls")
