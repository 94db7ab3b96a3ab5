"""The built-in CRM's engine (:mod:`cti.sqlengine`, tuned for lookups), and the boundary where
SQLAlchemy errors become CRM errors.

Lookups are its hot path: SQLite connections get a 64 MiB page cache and map the file, the
pool hands out the warmest connection first and may grow under bursts; PostgreSQL keeps one
generic plan for prepared statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import URL, Engine
from sqlalchemy import exc as sa_exc

from cti.errors import CrmError, CrmUnavailable, CtiError
from cti.sqlengine import WRITE, Tuning, create_sql_engine, error_details, writer

__all__ = ["WRITE", "create_crm_engine", "translated_errors", "writer"]

_TUNING = Tuning(
    what="the built-in CRM",
    example_url="sqlite:///var/crm.sqlite3",
    overflow=True,
    sqlite_pragmas=(
        "PRAGMA cache_size = -65536",  # 64 MiB page cache per connection
        "PRAGMA mmap_size = 1073741824",  # map up to 1 GiB of the file: reads cost no syscalls
    ),
    sqlite_lifo=True,  # the most recently used connection has the warmest page cache
    # The lookup's statements are prepared (psycopg prepares a statement on its fifth run);
    # planning the contacts join costs 10x running it, so prepared statements keep one generic
    # plan instead of re-planning for each number.
    pg_options="-c plan_cache_mode=force_generic_plan",
)
# PostgreSQL SQLSTATEs: undefined_table, undefined_column.
_UNDEFINED_OBJECT_STATES = frozenset({"42P01", "42703"})
_OUTAGES = (sa_exc.OperationalError, sa_exc.InterfaceError)
_MIGRATE_HINT = "run crm_connectors.builtin.migrations.upgrade() on this database"


def create_crm_engine(
    url: str | URL, *, pool_size: int = 4, connect_timeout: float = 5.0
) -> Engine:
    """Return an engine for the CRM database at ``url`` (see :mod:`cti.sqlengine`)."""
    return create_sql_engine(url, _TUNING, pool_size=pool_size, connect_timeout=connect_timeout)


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
            details = {**error_details(operation, exc), "hint": _MIGRATE_HINT}
            raise CrmError("the CRM schema is missing or outdated", details=details) from exc
        if exc.connection_invalidated or isinstance(exc, _OUTAGES):
            raise _unavailable(operation, exc) from exc
        raise CrmError(
            f"CRM database error in {operation}", details=error_details(operation, exc)
        ) from exc
    except (sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
        raise _unavailable(operation, exc) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise CrmError(
            f"CRM database error in {operation}", details=error_details(operation, exc)
        ) from exc


def _schema_missing(exc: sa_exc.DBAPIError) -> bool:
    """Tell whether a table or column is missing (never migrated, or migrated to an older head)."""
    if getattr(exc.orig, "sqlstate", None) in _UNDEFINED_OBJECT_STATES:
        return True
    return exc.orig.__class__.__module__ == "sqlite3" and str(exc.orig).startswith("no such ")


def _unavailable(operation: str, exc: Exception) -> CrmUnavailable:
    return CrmUnavailable(
        f"CRM database unavailable in {operation}", details=error_details(operation, exc)
    )
