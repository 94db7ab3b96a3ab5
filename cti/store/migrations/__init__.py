"""Alembic migrations of the daemon's store, run from Python (no alembic.ini).

:meth:`cti.store.Store.upgrade` (or :func:`upgrade`) runs them at install time or when the
daemon starts; it is idempotent and fast when the schema is current. The store keeps its version
in ``cti_alembic_version`` and only ever looks at its own tables, so it can share a database with
the built-in CRM (``crm_*`` tables, ``crm_alembic_version``).

To write the next migration after changing :mod:`cti.store.models`::

    from cti.store import migrations
    migrations.make_revision("sqlite:///var/store-dev.sqlite3", "add agents.phone")

then review the generated file in ``versions/`` (and rename it ``sNNNN_<what>.py``).
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

from cti.errors import StoreError
from cti.store.engine import create_store_engine, sqlite_path, translated_errors, writer
from cti.store.models import metadata

__all__ = [
    "CONTEXT_OPTIONS",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_revision",
    "upgrade",
]

VERSION_TABLE = "cti_alembic_version"
_HERE = Path(__file__).resolve().parent


def _include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Let Alembic see only the store's tables, whatever else shares the database."""
    if type_ == "table":
        return name is not None and name in metadata.tables
    return True


#: Options for every Alembic MigrationContext on the store schema (env.py and the schema test).
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
    """Create or update the store schema to ``revision`` (default: the newest), in one transaction.

    A SQLite file's directory is created if missing. Raises StoreUnavailable when the database
    cannot be reached, StoreError when a migration fails.
    """
    path = sqlite_path(engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with _migrating("upgrade", engine_or_url) as conn:
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine_or_url: Engine | str | URL) -> str | None:
    """Return the revision the database is at, None for a database without the store schema."""
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
        engine, owned = create_store_engine(engine_or_url, pool_size=1), True
    try:
        with translated_errors(operation), writer(engine).begin() as conn:
            try:
                yield conn
            except CommandError as exc:
                raise StoreError(
                    f"store migration failed: {exc}", details={"operation": operation}
                ) from exc
    finally:
        if owned:
            engine.dispose()
