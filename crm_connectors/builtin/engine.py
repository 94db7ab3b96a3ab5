"""Engines for the built-in CRM, and the boundary where SQLAlchemy errors become CTI errors.

SQLite (the default, a file) and PostgreSQL (``postgresql+psycopg://``) are supported. On SQLite
the engine turns on WAL and foreign keys, and takes the write lock up front (``BEGIN
IMMEDIATE``) for connections marked :data:`WRITE`, so a writer waits on ``busy_timeout`` instead
of failing when another writer committed first; readers run in autocommit and never block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool

from cti.errors import ConfigError, CrmError, CrmUnavailable, CtiError

__all__ = ["WRITE", "create_crm_engine", "translated_errors", "writer"]

#: Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``).
WRITE = "crm_write"

_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",  # durable across application crashes; WAL makes it safe
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -65536",  # 64 MiB page cache per connection
    "PRAGMA mmap_size = 1073741824",  # map up to 1 GiB of the file: reads cost no syscalls
)
_FILE_ONLY_PRAGMAS = ("PRAGMA journal_mode = WAL",)
# PostgreSQL SQLSTATEs: undefined_table, undefined_column.
_UNDEFINED_OBJECT_STATES = frozenset({"42P01", "42703"})
_OUTAGES = (sa_exc.OperationalError, sa_exc.InterfaceError)
_MIGRATE_HINT = "run crm_connectors.builtin.migrations.upgrade() on this database"


def create_crm_engine(
    url: str | URL, *, pool_size: int = 4, connect_timeout: float = 5.0
) -> Engine:
    """Return an engine for the CRM database at ``url``, tuned for its backend.

    ``pool_size`` should match the connector's worker threads so no thread waits for a
    connection. ``postgresql://`` means psycopg 3. Raises ConfigError for other databases.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size, connect_timeout)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=connect_timeout,
            pool_recycle=1800,
            connect_args={
                "connect_timeout": max(1, round(connect_timeout)),
                # The lookup's statements are prepared (psycopg prepares a statement on its
                # fifth run); planning the contacts join costs 10x running it, so prepared
                # statements keep one generic plan instead of re-planning for each number.
                "options": "-c plan_cache_mode=force_generic_plan",
            },
        )
    raise ConfigError(
        "the built-in CRM runs on SQLite or PostgreSQL",
        details={"backend": backend, "example": "sqlite:///var/crm.sqlite3"},
    )


def writer(engine: Engine) -> Engine:
    """Return ``engine`` with connections marked as writing (see :data:`WRITE`)."""
    return engine.execution_options(**{WRITE: True})


@contextmanager
def translated_errors(operation: str) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors raised inside into CrmUnavailable or CrmError.

    Unreachable servers, dropped connections, pool timeouts and SQLite's ``database is locked``
    are CrmUnavailable (retry later); a missing table is CrmError with a hint to migrate;
    anything else SQLAlchemy raises is CrmError. The message and details never carry SQL or
    bound values (the caller ID is attacker-controlled).
    """
    try:
        yield
    except CtiError:
        raise
    except sa_exc.DBAPIError as exc:
        if _schema_missing(exc):
            details = {**_details(operation, exc), "hint": _MIGRATE_HINT}
            raise CrmError("the CRM schema is missing or outdated", details=details) from exc
        if exc.connection_invalidated or isinstance(exc, _OUTAGES):
            raise _unavailable(operation, exc) from exc
        raise CrmError(
            f"CRM database error in {operation}", details=_details(operation, exc)
        ) from exc
    except (sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
        raise _unavailable(operation, exc) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise CrmError(
            f"CRM database error in {operation}", details=_details(operation, exc)
        ) from exc


def _schema_missing(exc: sa_exc.DBAPIError) -> bool:
    """Tell whether a table or column is missing (never migrated, or migrated to an older head)."""
    if getattr(exc.orig, "sqlstate", None) in _UNDEFINED_OBJECT_STATES:
        return True
    return exc.orig.__class__.__module__ == "sqlite3" and str(exc.orig).startswith("no such ")


def _unavailable(operation: str, exc: Exception) -> CrmUnavailable:
    return CrmUnavailable(
        f"CRM database unavailable in {operation}", details=_details(operation, exc)
    )


def _details(operation: str, exc: Exception) -> dict[str, object]:
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if isinstance(exc, sa_exc.DBAPIError) or not isinstance(exc, sa_exc.StatementError):
        reason = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    else:
        reason = ""  # a StatementError's text embeds the SQL and its parameters
    return {"operation": operation, "error": type(cause).__name__, "reason": reason}


def _sqlite_engine(url: URL, pool_size: int, connect_timeout: float) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        options["poolclass"] = StaticPool  # one connection, or each would see its own database
    else:
        options.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=connect_timeout,
            pool_use_lifo=True,  # the most recently used connection has the warmest page cache
        )
    engine = create_engine(url, **options)
    pragmas = _SQLITE_PRAGMAS + (() if in_memory else _FILE_ONLY_PRAGMAS)
    busy_ms = round(connect_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Readers stay in autocommit (WAL gives each statement a consistent snapshot).
        if connection.get_execution_options().get(WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
