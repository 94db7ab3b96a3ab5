"""Alembic migrations run from Python (no alembic.ini), for the store and the built-in CRM.

Each schema keeps its own version table and only ever looks at its own tables
(``include_table``), so both can share one database. :class:`Migrations` is one schema's runner;
each package's ``migrations`` module exposes its functions by name (Alembic's ``env.py`` and
the tests use them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, MetaData

from cti.errors import CtiError
from cti.sqlengine import sqlite_path, writer

__all__ = ["Migrations"]

Target = Engine | str | URL


@dataclass(frozen=True)
class Migrations:
    """The Alembic migrations in ``directory`` of the schema ``metadata`` describes."""

    what: str  # "store", "CRM": for error messages
    directory: Path
    metadata: MetaData
    version_table: str
    include_table: Callable[[str], bool]
    engine_for: Callable[[str | URL], Engine]  # an engine of one connection, for a URL
    translated_errors: Callable[[str], AbstractContextManager[None]]
    failure: type[CtiError]  # raised when a migration fails

    @property
    def context_options(self) -> dict[str, Any]:
        """Options for every Alembic MigrationContext on this schema (env.py, schema tests)."""

        def include_name(
            name: str | None, type_: str, parent_names: Mapping[str, str | None]
        ) -> bool:
            if type_ == "table":
                return name is not None and self.include_table(name)
            return True

        return {
            "target_metadata": self.metadata,
            "version_table": self.version_table,
            "include_name": include_name,
            "compare_type": True,
            "compare_server_default": False,  # SQLite and PostgreSQL reflect them differently
            "render_as_batch": True,  # SQLite cannot ALTER most things; batch mode copies
        }

    def alembic_config(self, connection: Connection | None = None) -> Config:
        """Return an Alembic config for these migrations, bound to ``connection`` if given."""
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["connection"] = connection
        return config

    def upgrade(self, target: Target, revision: str = "head") -> None:
        """Create or update the schema to ``revision`` (default: the newest), in one transaction.

        A SQLite file's directory is created if missing. Raises the schema's "unavailable"
        error when the database cannot be reached, ``failure`` when a migration fails.
        """
        path = sqlite_path(target.url if isinstance(target, Engine) else target)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        with self._migrating("upgrade", target) as conn:
            command.upgrade(self.alembic_config(conn), revision)

    def current_revision(self, target: Target) -> str | None:
        """Return the revision the database is at, None for a database without the schema."""
        with self._migrating("current_revision", target) as conn:
            context = MigrationContext.configure(conn, opts={"version_table": self.version_table})
            return context.get_current_revision()

    def head_revision(self) -> str | None:
        """Return the newest revision these migrations know."""
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def make_revision(self, target: Target, message: str) -> None:
        """Write a new migration comparing a database at head with the models (development)."""
        with self._migrating("make_revision", target) as conn:
            command.revision(self.alembic_config(conn), message=message, autogenerate=True)

    @contextmanager
    def _migrating(self, operation: str, target: Target) -> Iterator[Connection]:
        if isinstance(target, Engine):
            engine, owned = target, False
        else:
            engine, owned = self.engine_for(target), True
        try:
            with self.translated_errors(operation), writer(engine).begin() as conn:
                try:
                    yield conn
                except CommandError as exc:
                    raise self.failure(
                        f"{self.what} migration failed: {exc}", details={"operation": operation}
                    ) from exc
        finally:
            if owned:
                engine.dispose()
