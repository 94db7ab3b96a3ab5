"""Engines for the daemon's store, and the boundary where SQLAlchemy errors become CTI errors.

SQLite (the default, a file) and PostgreSQL (``postgresql+psycopg://``) are supported. On SQLite
the engine turns on WAL and foreign keys, and takes the write lock up front (``BEGIN
IMMEDIATE``) on connections marked :data:`WRITE`, so a writer waits on ``busy_timeout`` instead
of failing when another writer committed first. On PostgreSQL connections are pinged before use,
so a server restart costs failed calls only while it is down, not stale connections afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool

from cti.errors import ConfigError, Conflict, CtiError, StoreError, StoreUnavailable

__all__ = ["WRITE", "create_store_engine", "sqlite_path", "translated_errors", "writer"]

#: Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``).
WRITE = "cti_store_write"

_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",  # durable across application crashes; WAL makes it safe
    "PRAGMA temp_store = MEMORY",
)
_FILE_ONLY_PRAGMAS = ("PRAGMA journal_mode = WAL",)


def create_store_engine(
    url: str | URL, *, pool_size: int = 4, connect_timeout: float = 5.0
) -> Engine:
    """Return an engine for the store at ``url``, tuned for its backend.

    ``pool_size`` should match the store's worker threads so no thread waits for a connection.
    ``postgresql://`` means psycopg 3. Raises ConfigError for other databases.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ConfigError("the store URL does not parse", details={"url": str(url)}) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size, connect_timeout)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=connect_timeout,
            pool_recycle=1800,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, round(connect_timeout))},
        )
    raise ConfigError(
        "the store runs on SQLite or PostgreSQL",
        details={"backend": backend, "example": "sqlite:///var/lib/cti/cti.sqlite3"},
    )


def sqlite_path(url: str | URL) -> Path | None:
    """Return the file of a SQLite URL, None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def writer(engine: Engine) -> Engine:
    """Return ``engine`` with connections marked as writing (see :data:`WRITE`)."""
    return engine.execution_options(**{WRITE: True})


@contextmanager
def translated_errors(operation: str) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors inside into StoreUnavailable, Conflict or StoreError.

    Unreachable servers, dropped connections, pool timeouts and SQLite's ``database is locked``
    are StoreUnavailable (retry later); a unique or foreign key violation is Conflict; anything
    else is StoreError. Messages never carry SQL or bound values (notes are what agents typed).
    """
    try:
        yield
    except CtiError:
        raise
    except sa_exc.IntegrityError as exc:
        raise Conflict(
            f"the change clashes with existing data ({operation})",
            details=_details(operation, exc),
        ) from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise _unavailable(operation, exc) from exc
    except (sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
        raise _unavailable(operation, exc) from exc
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _unavailable(operation, exc) from exc
        raise StoreError(f"store error in {operation}", details=_details(operation, exc)) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StoreError(f"store error in {operation}", details=_details(operation, exc)) from exc


def _unavailable(operation: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"store unavailable in {operation}", details=_details(operation, exc))


def _details(operation: str, exc: Exception) -> dict[str, object]:
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if isinstance(exc, sa_exc.DBAPIError) or not isinstance(exc, sa_exc.StatementError):
        text = str(cause).strip()
        reason = text.splitlines()[0][:200] if text else ""
    else:
        reason = ""  # a StatementError's text embeds the SQL and its parameters
    return {"operation": operation, "error": type(cause).__name__, "reason": reason}


def _sqlite_engine(url: URL, pool_size: int, connect_timeout: float) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        options["poolclass"] = StaticPool  # one connection, or each would see its own database
    else:
        options.update(pool_size=pool_size, max_overflow=0, pool_timeout=connect_timeout)
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
        # Readers run in autocommit (WAL gives each statement a consistent snapshot); a
        # reader that needs several statements to agree opens a writer transaction instead.
        if connection.get_execution_options().get(WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
