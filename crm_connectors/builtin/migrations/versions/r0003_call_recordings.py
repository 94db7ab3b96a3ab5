"""Keep a call's recording links: crm_calls.recordings (CallRecord.recordings, issue 19).

A JSON list of URLs, empty for calls logged before this revision or not recorded; the call
history shows them next to each call.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("crm_calls") as batch:
        batch.add_column(sa.Column("recordings", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # SQLite cannot drop a column in place: batch mode copies the table without it.
    with op.batch_alter_table("crm_calls") as batch:
        batch.drop_column("recordings")
