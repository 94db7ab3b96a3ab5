"""Create the daemon's store: agents and their phones, groups, call notes, the outbox, events.

Revision ID: s0001
Revises: (none)
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The models' UtcDateTime stores through this type; a migration keeps its own copy of types.
UTC_DATETIME = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    _agents()
    _groups()
    _calls()


def _agents() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="ck_agents_role"),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("username", name="uq_agents_username"),
    )
    op.create_table(
        "agent_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=128), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=True),
        _fk("agent_endpoints", "agent_id", "agents"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_endpoints"),
        sa.UniqueConstraint("endpoint", name="uq_agent_endpoints_endpoint"),
    )
    op.create_index("ix_agent_endpoints_agent_id", "agent_endpoints", ["agent_id"])


def _groups() -> None:
    op.create_table(
        "agent_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("pop_trigger", sa.String(length=16), nullable=False),
        sa.Column("dispositions", sa.JSON(), nullable=False),
        sa.Column("wrapup_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "pop_trigger IN ('ringing', 'answered')", name="ck_agent_groups_pop_trigger"
        ),
        sa.CheckConstraint("wrapup_seconds >= 0", name="ck_agent_groups_wrapup_seconds"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_groups"),
        sa.UniqueConstraint("name", name="uq_agent_groups_name"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("added_at", UTC_DATETIME, nullable=False),
        _fk("group_members", "agent_id", "agents"),
        _fk("group_members", "group_id", "agent_groups"),
        sa.PrimaryKeyConstraint("group_id", "agent_id", name="pk_group_members"),
    )
    op.create_index("ix_group_members_agent_id", "group_members", ["agent_id"])
    op.create_table(
        "group_supervisors",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        _fk("group_supervisors", "agent_id", "agents"),
        _fk("group_supervisors", "group_id", "agent_groups"),
        sa.PrimaryKeyConstraint("group_id", "agent_id", name="pk_group_supervisors"),
    )
    op.create_index("ix_group_supervisors_agent_id", "group_supervisors", ["agent_id"])
    for table, key, length in (("group_dids", "did", 64), ("group_queues", "queue", 128)):
        op.create_table(
            table,
            sa.Column(key, sa.String(length=length), nullable=False),
            sa.Column("group_id", sa.Integer(), nullable=False),
            _fk(table, "group_id", "agent_groups"),
            sa.PrimaryKeyConstraint(key, name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_group_id", table, ["group_id"])


def _calls() -> None:
    op.create_table(
        "call_notes",
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("disposition", sa.String(length=255), nullable=True),
        sa.Column("disposition_at", UTC_DATETIME, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("call_id", "username", name="pk_call_notes"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("last_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTC_DATETIME, nullable=True),
        sa.Column("crm_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("call_id", "connector", name="uq_outbox_call_id_connector"),
    )
    op.create_index(
        "ix_outbox_delivered_at_next_attempt_at", "outbox", ["delivered_at", "next_attempt_at"]
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_kind_at", "events", ["kind", "at"])


def downgrade() -> None:
    for table in (
        "events",
        "outbox",
        "call_notes",
        "group_queues",
        "group_dids",
        "group_supervisors",
        "group_members",
        "agent_groups",
        "agent_endpoints",
        "agents",
    ):
        op.drop_table(table)  # dropping a table drops its indexes
