"""Report buckets (cti.reports): queue, agent, DID and trunk figures by 15 minutes and by day.

Revision ID: s0010
Revises: s0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0010"
down_revision: str | None = "s0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "report_buckets",
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("dim", sa.String(length=8), nullable=False),
        sa.Column("start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=48), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.CheckConstraint("span IN ('q', 'd')", name="ck_report_buckets_span"),
        sa.PrimaryKeyConstraint(
            "span", "dim", "start", "key", "metric", name=op.f("pk_report_buckets")
        ),
    )


def downgrade() -> None:
    op.drop_table("report_buckets")
