"""Single sign-ons in progress in the store (cti.accounts.oidc_pending): oidc_pending.

The state, nonce and PKCE verifier a sign-in's answer must match, so the provider's redirect back
may reach any daemon process (or one restarted meanwhile).

Revision ID: s0020
Revises: s0019
Create Date: 2027-01-19
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "s0020"
down_revision: str | None = "s0019"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_pending",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_pending"),
    )
    op.create_index("ix_oidc_pending_expires_at", "oidc_pending", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_pending_expires_at", table_name="oidc_pending")
    op.drop_table("oidc_pending")
