"""Access numbers: pools of DIDs, reservations for companies' apps, their API keys.

Revision ID: s0008
Revises: s0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0008"
down_revision: str | None = "s0007"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=255), server_default="", nullable=False),
        sa.Column("group_name", sa.String(length=64), nullable=True),
        sa.Column("hold_seconds", sa.Integer(), server_default="120", nullable=False),
        sa.Column("policy", sa.String(length=16), server_default="refuse", nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("hold_seconds BETWEEN 10 AND 3600", name="ck_access_pools_hold_seconds"),
        sa.CheckConstraint("policy IN ('refuse', 'take_oldest')", name="ck_access_pools_policy"),
        sa.PrimaryKeyConstraint("id", name="pk_access_pools"),
        sa.UniqueConstraint("name", name="uq_access_pools_name"),
    )
    op.create_table(
        "access_numbers",
        sa.Column("did", sa.String(length=64), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("last_used_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["access_pools.id"],
            name="fk_access_numbers_pool_id_access_pools",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("did", name="pk_access_numbers"),
    )
    op.create_index("ix_access_numbers_pool_id", "access_numbers", ["pool_id"])
    op.create_table(
        "access_reservations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("did", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=20), nullable=True),
        sa.Column("hold", sa.String(length=96), nullable=True),
        sa.Column("customer_phone", sa.String(length=20), nullable=True),
        sa.Column("customer_crm_id", sa.String(length=128), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("call_id", sa.String(length=255), nullable=True),
        sa.CheckConstraint(
            "state IN ('live', 'matched', 'expired', 'cancelled')",
            name="ck_access_reservations_state",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["access_pools.id"],
            name="fk_access_reservations_pool_id_access_pools",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_access_reservations"),
        sa.UniqueConstraint("hold", name="uq_access_reservations_hold"),
    )
    op.create_index(
        "ix_access_reservations_pool_id_state", "access_reservations", ["pool_id", "state"]
    )
    op.create_index("ix_access_reservations_did_state", "access_reservations", ["did", "state"])
    op.create_index("ix_access_reservations_ended_at", "access_reservations", ["ended_at"])
    op.create_table(
        "access_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["access_pools.id"],
            name="fk_access_refusals_pool_id_access_pools",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_access_refusals"),
    )
    op.create_index("ix_access_refusals_pool_id_at", "access_refusals", ["pool_id", "at"])
    op.create_table(
        "access_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("pools", sa.JSON(), nullable=False),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("last_used_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint("per_minute BETWEEN 1 AND 100000", name="ck_access_keys_per_minute"),
        sa.PrimaryKeyConstraint("id", name="pk_access_keys"),
        sa.UniqueConstraint("digest", name="uq_access_keys_digest"),
    )


def downgrade() -> None:
    for table in (
        "access_keys",
        "access_refusals",
        "access_reservations",
        "access_numbers",
        "access_pools",
    ):
        op.drop_table(table)
