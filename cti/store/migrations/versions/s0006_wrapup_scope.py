"""Agent groups say which answered calls start wrap-up: queue calls (default), all or none.

Revision ID: s0006
Revises: s0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0006"
down_revision: str | None = "s0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_groups") as batch:
        batch.add_column(
            sa.Column(
                "wrapup_applies_to", sa.String(length=8), server_default="queue", nullable=False
            )
        )
        batch.create_check_constraint(
            "ck_agent_groups_wrapup_applies_to", "wrapup_applies_to IN ('queue', 'all', 'none')"
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_groups") as batch:
        batch.drop_constraint("ck_agent_groups_wrapup_applies_to", type_="check")
        batch.drop_column("wrapup_applies_to")
