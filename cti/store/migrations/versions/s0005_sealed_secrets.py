"""AMI secrets of admin-added servers are stored sealed (longer than the secret itself).

Revision ID: s0005
Revises: s0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0005"
down_revision: str | None = "s0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("ami_servers") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("ami_servers") as batch:
        batch.alter_column("secret", type_=sa.String(length=255), existing_nullable=False)
