"""The announcement a group's callers hear before a recorded call: recording_policies.announcement.

Empty: none. Otherwise the name of a sound Asterisk plays (``beep``, or a file the admin put in
its sounds directory, such as ``custom/recorded``), checked by GroupPolicy.parse.

Revision ID: s0018
Revises: s0017
Create Date: 2027-01-18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0018"
down_revision: str | None = "s0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("recording_policies") as batch:
        batch.add_column(
            sa.Column("announcement", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_policies") as batch:
        batch.drop_column("announcement")
