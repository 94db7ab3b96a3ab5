"""One database connection per thread for caller-ID lookups, kept open outside the pool.

Why: a lookup is the hot path, and a pool checkout per lookup (SQLAlchemy's bookkeeping, a
ROLLBACK or COMMIT on return, and on PostgreSQL a BEGIN before the first statement) cost more
than the lookup's one statement. Each thread that looks callers up (the connector's workers, or
a benchmark's own thread) gets its own DBAPI connection, taken from the engine once and detached
from its pool, in autocommit: one statement is one round trip, and psycopg keeps the statement
prepared on that connection. A connection that fails is closed and replaced on the next lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from crm_connectors.base import LookupOptions, Match
from crm_connectors.builtin.lookup_sql import (
    lookup_parameters,
    lookup_statement,
    matches_from_rows,
)
from crm_connectors.builtin.rows import RefMaker
from crm_connectors.builtin.runner import wrapped_driver_error as _wrapped

__all__ = ["LookupConnections"]


class LookupConnections:
    """Run the one-statement lookup on a connection of the calling thread's own."""

    def __init__(self, engine: Engine, *, sqlite_busy_ms: int | None = None) -> None:
        """``sqlite_busy_ms``: how long a SQLite connection of these waits for a lock (None:
        the engine's own busy timeout)."""
        self._engine = engine
        self._busy_ms = sqlite_busy_ms
        self._dialect = engine.dialect
        self._sql = lookup_statement(self._dialect.name)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Any] = []  # every detached connection, to close them all at the end
        self._closed = False

    def lookup(self, e164: str, options: LookupOptions, refs: RefMaker) -> tuple[Match, ...]:
        """Return the matches of ``e164``; driver errors come out as SQLAlchemy's would."""
        proxy = self._connection()
        dbapi_error = self._dialect.loaded_dbapi.Error
        values = lookup_parameters(self._dialect.name, e164, options, refs.system)
        try:
            cursor = proxy.dbapi_connection.cursor()
            try:
                cursor.execute(self._sql, values)
                rows: Sequence[Sequence[Any]] = cursor.fetchall()
            finally:
                cursor.close()
        except dbapi_error as exc:
            dead = self._dialect.is_disconnect(exc, proxy.dbapi_connection, None)
            self._discard(proxy)  # whatever failed, the next lookup starts on a fresh one
            raise _wrapped(exc, dbapi_error, self._dialect, invalidated=dead) from exc
        return matches_from_rows(rows, refs)

    def close(self) -> None:
        """Close every connection; later lookups open none."""
        with self._lock:
            self._closed = True
            proxies, self._open = self._open, []
        for proxy in proxies:
            _close_quietly(proxy)

    def _connection(self) -> Any:  # a PoolProxiedConnection, detached
        proxy = getattr(self._local, "proxy", None)
        if proxy is not None and not self._closed:
            return proxy
        dbapi_error = self._dialect.loaded_dbapi.Error
        try:
            proxy = self._engine.raw_connection()
        except dbapi_error as exc:
            raise _wrapped(exc, dbapi_error, self._dialect, invalidated=False) from exc
        try:
            proxy.detach()  # ours until closed: the pool neither counts nor resets it
            driver: Any = proxy.dbapi_connection
            if self._dialect.name == "postgresql":
                driver.autocommit = True
            elif self._busy_ms is not None:
                driver.execute(f"PRAGMA busy_timeout = {int(self._busy_ms):d}")
        except BaseException:
            _close_quietly(proxy)
            raise
        with self._lock:
            if self._closed:
                _close_quietly(proxy)
                raise sa_exc.InvalidRequestError("the lookup connections are closed")
            self._open.append(proxy)
        self._local.proxy = proxy
        return proxy

    def _discard(self, proxy: Any) -> None:
        self._local.proxy = None
        with self._lock:
            if proxy in self._open:
                self._open.remove(proxy)
        _close_quietly(proxy)


def _close_quietly(proxy: Any) -> None:
    with suppress(Exception):  # a connection that cannot even close is gone already
        proxy.close()
