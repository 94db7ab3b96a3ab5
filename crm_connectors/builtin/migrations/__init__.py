"""Alembic migrations of the built-in CRM's schema, run from Python (no alembic.ini).

Call :func:`upgrade` at install time or when the daemon starts (it is idempotent and fast when
the schema is current). The CRM keeps its version in ``crm_alembic_version`` and only ever looks
at ``crm_*`` tables, so it can share a database with the daemon's own store and its migrations.

To write the next migration after changing :mod:`crm_connectors.builtin.models`::

    from crm_connectors.builtin import migrations
    migrations.make_revision("sqlite:///var/crm-dev.sqlite3", "add accounts.website")

then review the generated file in ``versions/`` (and rename it ``rNNNN_<what>.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine

from crm_connectors.builtin.engine import create_crm_engine, translated_errors, writer
from crm_connectors.builtin.models import PREFIX, metadata
from cti.errors import CrmError

__all__ = [
    "CONTEXT_OPTIONS",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_revision",
    "upgrade",
]

VERSION_TABLE = f"{PREFIX}alembic_version"
_HERE = Path(__file__).resolve().parent


def _include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Let Alembic see only the CRM's tables, whatever else shares the database."""
    if type_ == "table":
        return name is not None and name.startswith(PREFIX) and name != VERSION_TABLE
    return True


#: Options for every Alembic MigrationContext on the CRM schema (env.py and the schema test).
CONTEXT_OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "version_table": VERSION_TABLE,
    "include_name": _include_name,
    "compare_type": True,
    "compare_server_default": False,  # SQLite and PostgreSQL reflect defaults differently
    "render_as_batch": True,  # SQLite cannot ALTER most things; batch mode copies the table
}


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic config for these migrations, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Create or update the CRM schema to ``revision`` (default: the newest), in one transaction.

    Raises CrmUnavailable when the database cannot be reached, CrmError when a migration fails.
    """
    with _migrating("upgrade", engine_or_url) as conn:
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine_or_url: Engine | str | URL) -> str | None:
    """Return the revision the database is at, None for a database without the CRM schema."""
    with _migrating("current_revision", engine_or_url) as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision these migrations know."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def make_revision(engine_or_url: Engine | str | URL, message: str) -> None:
    """Write a new migration by comparing a database at head with the models (development)."""
    with _migrating("make_revision", engine_or_url) as conn:
        command.revision(alembic_config(conn), message=message, autogenerate=True)


@contextmanager
def _migrating(operation: str, engine_or_url: Engine | str | URL) -> Iterator[Connection]:
    if isinstance(engine_or_url, Engine):
        engine, owned = engine_or_url, False
    else:
        engine, owned = create_crm_engine(engine_or_url, pool_size=1), True
    try:
        with translated_errors(operation), writer(engine).begin() as conn:
            try:
                yield conn
            except CommandError as exc:
                raise CrmError(
                    f"CRM migration failed: {exc}", details={"operation": operation}
                ) from exc
    finally:
        if owned:
            engine.dispose()
