"""SQLAlchemy engines for the daemon's two databases, the store and the built-in CRM.

SQLite (a file, the default) and PostgreSQL (``postgresql+psycopg://``) are supported. On SQLite
the engine turns on WAL and foreign keys, and takes the write lock up front (``BEGIN
IMMEDIATE``) on connections marked :data:`WRITE`, so a writer waits on ``busy_timeout`` instead
of failing when another writer committed first; readers run in autocommit (WAL gives each
statement a consistent snapshot; a reader that needs several statements to agree opens a writer
transaction instead). Each database tunes its engine with :class:`Tuning`; each turns driver
errors into its own CTI errors, with :func:`error_details` so messages never carry SQL or bound
values (caller IDs and notes are attacker-controlled).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool

from cti.errors import ConfigError
from cti.private_files import touch_private

__all__ = ["WRITE", "Tuning", "create_sql_engine", "error_details", "sqlite_path", "writer"]

#: Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``).
WRITE = "cti_write"

_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",  # durable across application crashes; WAL makes it safe
    "PRAGMA temp_store = MEMORY",
)
_FILE_ONLY_PRAGMAS = ("PRAGMA journal_mode = WAL",)


@dataclass(frozen=True, slots=True)
class Tuning:
    """What one database wants of its engine beyond the common settings."""

    what: str  # "the store", "the built-in CRM": for error messages
    example_url: str
    overflow: bool = False  # connections beyond pool_size under bursts (as many again)
    sqlite_pragmas: tuple[str, ...] = ()  # run on each new connection after the common ones
    sqlite_lifo: bool = False  # reuse the warmest connection first (its page cache)
    pg_pre_ping: bool = False  # test a pooled connection before use (survives server restarts)
    pg_options: str | None = None  # libpq ``options`` (``-c name=value``)


def create_sql_engine(
    url: str | URL, tuning: Tuning, *, pool_size: int = 4, connect_timeout: float = 5.0
) -> Engine:
    """Return an engine for ``url`` tuned for its backend; ConfigError for other databases.

    ``pool_size`` should match the worker threads so no thread waits for a connection;
    ``postgresql://`` means psycopg 3.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ConfigError(f"the URL of {tuning.what} does not parse") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, tuning, pool_size, connect_timeout)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout))}
        if tuning.pg_options:
            connect_args["options"] = tuning.pg_options
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size if tuning.overflow else 0,
            pool_timeout=connect_timeout,
            pool_recycle=1800,
            pool_pre_ping=tuning.pg_pre_ping,
            connect_args=connect_args,
        )
    raise ConfigError(
        f"{tuning.what} runs on SQLite or PostgreSQL",
        details={"backend": backend, "example": tuning.example_url},
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


def error_details(operation: str, exc: Exception) -> dict[str, object]:
    """The operation, the driver's error class and first line; never SQL or parameters."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if isinstance(exc, sa_exc.DBAPIError) or not isinstance(exc, sa_exc.StatementError):
        text = str(cause).strip()
        reason = text.splitlines()[0][:200] if text else ""
    else:
        reason = ""  # a StatementError's text embeds the SQL and its parameters
    return {"operation": operation, "error": type(cause).__name__, "reason": reason}


def _sqlite_engine(url: URL, tuning: Tuning, pool_size: int, connect_timeout: float) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        options["poolclass"] = StaticPool  # one connection, or each would see its own database
    else:
        options.update(
            pool_size=pool_size,
            max_overflow=pool_size if tuning.overflow else 0,
            pool_timeout=connect_timeout,
            pool_use_lifo=tuning.sqlite_lifo,
        )
        # Created private before SQLite opens it: its -wal and -shm files take the same mode.
        touch_private(Path(str(url.database)))
    engine = create_engine(url, **options)
    pragmas = _SQLITE_PRAGMAS + tuning.sqlite_pragmas + (() if in_memory else _FILE_ONLY_PRAGMAS)
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
        if connection.get_execution_options().get(WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
