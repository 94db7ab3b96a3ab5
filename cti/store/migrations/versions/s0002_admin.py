"""PBX admin: agent profiles (extension, names, SIP digest), runtime AMI servers, trunk groups.

Revision ID: s0002
Revises: s0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0002"
down_revision: str | None = "s0001"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_profiles",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("last_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("extension", sa.String(length=32), nullable=False),
        sa.Column("salesforce_user", sa.String(length=255), nullable=True),
        sa.Column("sip_digest", sa.String(length=128), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_agent_profiles_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agent_profiles"),
        sa.UniqueConstraint("extension", name="uq_agent_profiles_extension"),
    )
    op.create_table(
        "ami_servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("tls", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ami_servers"),
        sa.UniqueConstraint("name", name="uq_ami_servers_name"),
    )
    op.create_table(
        "trunk_groups",
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("trunk", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["agent_groups.id"],
            name="fk_trunk_groups_group_id_agent_groups",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server", "trunk", name="pk_trunk_groups"),
    )
    op.create_index("ix_trunk_groups_group_id", "trunk_groups", ["group_id"])


def downgrade() -> None:
    for table in ("trunk_groups", "ami_servers", "agent_profiles"):
        op.drop_table(table)
