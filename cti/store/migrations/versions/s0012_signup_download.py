"""Signup links: the mobile softphone's download token (issue 16): a short-lived, single-use
token in the URL a softphone fetches its provisioning document from (it cannot carry the
signup browser's cookie), bound to the signup session that asked for it.

Revision ID: s0012
Revises: s0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0012"
down_revision: str | None = "s0011"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("signup_tokens", sa.Column("download_hash", sa.String(64), nullable=True))
    op.add_column("signup_tokens", sa.Column("download_expires_at", UTC_DATETIME, nullable=True))
    op.create_index(
        "ix_signup_tokens_download_hash", "signup_tokens", ["download_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_signup_tokens_download_hash", table_name="signup_tokens")
    with op.batch_alter_table("signup_tokens") as batch:
        batch.drop_column("download_expires_at")
        batch.drop_column("download_hash")
