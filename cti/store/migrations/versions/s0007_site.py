"""Site setup: locations with emergency addresses, numbers and their porting, devices by MAC,
signup tokens, and where the setup wizard stands (cti.site).

Revision ID: s0007
Revises: s0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0007"
down_revision: str | None = "s0006"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "site_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("emergency", sa.JSON(), nullable=False),
        sa.Column("callback", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_site_locations"),
        sa.UniqueConstraint("name", name="uq_site_locations_name"),
    )
    op.create_table(
        "site_numbers",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("loa_name", sa.String(length=200), nullable=True),
        sa.Column("loa_type", sa.String(length=64), nullable=True),
        sa.Column("loa", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'porting', 'failed')", name="ck_site_numbers_status"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["site_locations.id"],
            name="fk_site_numbers_location_id_site_locations",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("number", name="pk_site_numbers"),
    )
    op.create_index("ix_site_numbers_location_id", "site_numbers", ["location_id"])
    op.create_table(
        "site_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("sip_secret", sa.Text(), nullable=False),
        sa.Column("provision_ha1", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_site_devices_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["site_locations.id"],
            name="fk_site_devices_location_id_site_locations",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_site_devices"),
        sa.UniqueConstraint("mac", name="uq_site_devices_mac"),
    )
    op.create_index("ix_site_devices_agent_id", "site_devices", ["agent_id"])
    op.create_index("ix_site_devices_location_id", "site_devices", ["location_id"])
    op.create_table(
        "signup_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=True),
        sa.Column("session_hash", sa.String(length=64), nullable=True),
        sa.Column("password_set_at", UTC_DATETIME, nullable=True),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_signup_tokens_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_signup_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_signup_tokens_token_hash"),
    )
    op.create_index("ix_signup_tokens_agent_id", "signup_tokens", ["agent_id"])
    op.create_table(
        "site_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_site_progress"),
    )


def downgrade() -> None:
    op.drop_table("site_progress")
    op.drop_index("ix_signup_tokens_agent_id", table_name="signup_tokens")
    op.drop_table("signup_tokens")
    op.drop_index("ix_site_devices_location_id", table_name="site_devices")
    op.drop_index("ix_site_devices_agent_id", table_name="site_devices")
    op.drop_table("site_devices")
    op.drop_index("ix_site_numbers_location_id", table_name="site_numbers")
    op.drop_table("site_numbers")
    op.drop_table("site_locations")
