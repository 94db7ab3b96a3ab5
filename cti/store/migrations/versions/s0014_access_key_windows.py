"""Access numbers: the API keys' request counts per minute, shared by every daemon process.

Revision ID: s0014
Revises: s0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0014"
down_revision: str | None = "s0013"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_key_windows",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("window_start", UTC_DATETIME, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "window_start", name="pk_access_key_windows"),
    )


def downgrade() -> None:
    op.drop_table("access_key_windows")
