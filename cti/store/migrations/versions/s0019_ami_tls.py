"""AMI over TLS for servers an admin adds: ami_servers.tls_ca_file and ami_servers.tls_verify.

tls_ca_file: the CA certificate file (on the daemon's host) Asterisk's certificate is verified
against; NULL: the system's trust store. tls_verify false: encrypted, the peer not verified.

Revision ID: s0019
Revises: s0018
Create Date: 2027-01-19
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0019"
down_revision: str | None = "s0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("ami_servers") as batch:
        batch.add_column(sa.Column("tls_ca_file", sa.String(length=1024), nullable=True))
        batch.add_column(
            sa.Column("tls_verify", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("ami_servers") as batch:
        batch.drop_column("tls_verify")
        batch.drop_column("tls_ca_file")
