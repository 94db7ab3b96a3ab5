"""Alembic's entry point for the store migrations; Alembic runs it, nothing imports it.

Only the connection handed over by :mod:`cti.store.migrations` is used: the store may share its
database with the built-in CRM, so there is no URL of its own and no offline mode.
"""

from __future__ import annotations

from alembic import context

from cti.errors import StoreError
from cti.store.migrations import CONTEXT_OPTIONS


def run_migrations() -> None:
    """Run the pending migrations on the connection the caller put in the config."""
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise StoreError("run the store migrations with cti.store.migrations.upgrade()")
    context.configure(connection=connection, **CONTEXT_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
