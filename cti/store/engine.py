"""The store's engine (:mod:`cti.sqlengine`, tuned for the store), and the boundary where
SQLAlchemy errors become the store's CTI errors.

On PostgreSQL connections are pinged before use, so a server restart costs failed calls only
while it is down, not stale connections afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import URL, Engine
from sqlalchemy import exc as sa_exc

from cti.errors import Conflict, CtiError, StoreError, StoreUnavailable
from cti.sqlengine import WRITE, Tuning, create_sql_engine, error_details, sqlite_path, writer

__all__ = ["WRITE", "create_store_engine", "sqlite_path", "translated_errors", "writer"]

_TUNING = Tuning(
    what="the store", example_url="sqlite:///var/lib/cti/cti.sqlite3", pg_pre_ping=True
)


def create_store_engine(
    url: str | URL, *, pool_size: int = 4, connect_timeout: float = 5.0
) -> Engine:
    """Return an engine for the store at ``url`` (see :func:`cti.sqlengine.create_sql_engine`)."""
    return create_sql_engine(url, _TUNING, pool_size=pool_size, connect_timeout=connect_timeout)


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
            details=error_details(operation, exc),
        ) from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise _unavailable(operation, exc) from exc
    except (sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
        raise _unavailable(operation, exc) from exc
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _unavailable(operation, exc) from exc
        raise StoreError(
            f"store error in {operation}", details=error_details(operation, exc)
        ) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StoreError(
            f"store error in {operation}", details=error_details(operation, exc)
        ) from exc


def _unavailable(operation: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(
        f"store unavailable in {operation}", details=error_details(operation, exc)
    )
