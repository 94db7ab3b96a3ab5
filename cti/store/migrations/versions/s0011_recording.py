"""Recording and monitoring settings per agent group, and one row per recording (cti.recording).

Revision ID: s0011
Revises: s0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "s0011"
down_revision: str | None = "s0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "recording_policies",
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=8), server_default="never", nullable=False),
        sa.Column("tell_agent", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("retention_days", sa.Integer(), server_default="90", nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "policy IN ('never', 'always', 'demand')", name="ck_recording_policies_policy"
        ),
        sa.CheckConstraint(
            "retention_days BETWEEN 1 AND 3650", name="ck_recording_policies_retention_days"
        ),
        sa.PrimaryKeyConstraint("group_name", name="pk_recording_policies"),
    )
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("deleted_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_recordings_started_at", table_name="recordings")
    op.drop_index("ix_recordings_call_id", table_name="recordings")
    op.drop_table("recordings")
    op.drop_table("recording_policies")
