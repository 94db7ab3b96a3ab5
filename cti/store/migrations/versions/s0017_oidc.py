"""Single sign-on (cti.accounts.oidc): provider accounts linked to users, sessions' tokens.

Revision ID: s0017
Revises: s0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "s0017"
down_revision: str | None = "s0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_links",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_oidc_links_agent_id_agents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", name="pk_oidc_links"),
        sa.UniqueConstraint("issuer", "subject", name="uq_oidc_links_issuer_subject"),
    )
    op.create_table(
        "oidc_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("checked_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_sessions"),
    )
    op.create_index("ix_oidc_sessions_expires_at", "oidc_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_sessions_expires_at", table_name="oidc_sessions")
    op.drop_table("oidc_sessions")
    op.drop_table("oidc_links")
