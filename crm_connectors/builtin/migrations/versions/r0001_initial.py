"""Create the built-in CRM: accounts, contacts and their phones, cases, calls and their matches.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The models' UtcDateTime stores through this type; a migration keeps its own copy of types.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crm_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=True),
        sa.Column("account_type", sa.String(length=64), nullable=True),
        sa.Column("industry", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crm_accounts"),
        sa.UniqueConstraint("external_id", name="uq_crm_accounts_external_id"),
    )
    op.create_index("ix_crm_accounts_phone_e164", "crm_accounts", ["phone_e164"])

    op.create_table(
        "crm_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("first_name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("last_name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["crm_accounts.id"],
            name="fk_crm_contacts_account_id_crm_accounts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_contacts"),
        sa.UniqueConstraint("external_id", name="uq_crm_contacts_external_id"),
    )
    op.create_index("ix_crm_contacts_account_id", "crm_contacts", ["account_id"])

    op.create_table(
        "crm_contact_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["crm_contacts.id"],
            name="fk_crm_contact_phones_contact_id_crm_contacts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_contact_phones"),
        sa.UniqueConstraint("e164", "contact_id", name="uq_crm_contact_phones_e164_contact_id"),
    )
    op.create_index(
        "ix_crm_contact_phones_contact_id_position",
        "crm_contact_phones",
        ["contact_id", "position"],
    )

    op.create_table(
        "crm_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("owner_name", sa.String(length=128), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["crm_accounts.id"],
            name="fk_crm_cases_account_id_crm_accounts",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["crm_contacts.id"],
            name="fk_crm_cases_contact_id_crm_contacts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_cases"),
        sa.UniqueConstraint("number", name="uq_crm_cases_number"),
    )
    op.create_index("ix_crm_cases_contact_id_opened_at", "crm_cases", ["contact_id", "opened_at"])
    op.create_index("ix_crm_cases_account_id_opened_at", "crm_cases", ["account_id", "opened_at"])

    op.create_table(
        "crm_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("answered_at", UTC_DATETIME, nullable=True),
        sa.Column("ended_at", UTC_DATETIME, nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("called_number", sa.String(length=64), nullable=False),
        sa.Column("external_e164", sa.String(length=16), nullable=True),
        sa.Column("did", sa.String(length=64), nullable=True),
        sa.Column("trunk", sa.String(length=255), nullable=True),
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("hold_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("duration_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("agents_rung", sa.JSON(), nullable=False),
        sa.Column("answered_by", sa.String(length=255), nullable=True),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("disposition", sa.String(length=255), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("logged_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crm_calls"),
        sa.UniqueConstraint("call_id", name="uq_crm_calls_call_id"),
    )
    op.create_index(
        "ix_crm_calls_external_e164_started_at", "crm_calls", ["external_e164", "started_at"]
    )

    op.create_table(
        "crm_call_matches",
        sa.Column("call_pk", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_pk"],
            ["crm_calls.id"],
            name="fk_crm_call_matches_call_pk_crm_calls",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "call_pk", "system", "object_type", "record_id", name="pk_crm_call_matches"
        ),
    )
    op.create_index(
        "ix_crm_call_matches_system_object_type_record_id",
        "crm_call_matches",
        ["system", "object_type", "record_id"],
    )


def downgrade() -> None:
    for table in (
        "crm_call_matches",
        "crm_calls",
        "crm_cases",
        "crm_contact_phones",
        "crm_contacts",
        "crm_accounts",
    ):
        op.drop_table(table)  # dropping a table drops its indexes
