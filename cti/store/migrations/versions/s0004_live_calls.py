"""Live calls saved across restarts of the daemon.

Revision ID: s0004
Revises: s0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0004"
down_revision: str | None = "s0003"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "live_calls",
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("saved_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_live_calls"),
    )


def downgrade() -> None:
    op.drop_table("live_calls")
