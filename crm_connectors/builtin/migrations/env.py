"""Alembic's entry point for the CRM migrations; Alembic runs it, nothing imports it.

Only the connection handed over by :mod:`crm_connectors.builtin.migrations` is used: the CRM
shares databases with other schemas, so there is no URL of its own and no offline mode.
"""

from __future__ import annotations

from alembic import context

from crm_connectors.builtin.migrations import CONTEXT_OPTIONS
from cti.errors import CrmError


def run_migrations() -> None:
    """Run the pending migrations on the connection the caller put in the config."""
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise CrmError("run the CRM migrations with crm_connectors.builtin.migrations.upgrade()")
    context.configure(connection=connection, **CONTEXT_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
