"""Keep a contact's extension: crm_contact_phones.extension (``ext. 12`` of a typed-in number).

Lookups still probe the main number (``e164``) alone, so no index changes: a caller ID never
carries an extension.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("crm_contact_phones") as batch:
        batch.add_column(sa.Column("extension", sa.String(length=10), nullable=True))


def downgrade() -> None:
    # SQLite cannot drop a column in place: batch mode copies the table without it.
    with op.batch_alter_table("crm_contact_phones") as batch:
        batch.drop_column("extension")
