"""The wallboard's alert thresholds per agent group (cti.supervision.thresholds).

Revision ID: s0021
Revises: s0020
Create Date: 2027-01-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "s0021"
down_revision: str | None = "s0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "wallboard_thresholds",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("max_waiting", sa.Integer(), nullable=True),
        sa.Column("max_wait_s", sa.Integer(), nullable=True),
        sa.Column("min_service_level_pct", sa.Float(), nullable=True),
        sa.Column("max_paused", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["agent_groups.id"],
            name=op.f("fk_wallboard_thresholds_group_id_agent_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_wallboard_thresholds")),
    )


def downgrade() -> None:
    op.drop_table("wallboard_thresholds")
