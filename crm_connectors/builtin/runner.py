"""Two ways to run the read queries: through SQLAlchemy, or straight on the driver's cursor.

The caller-ID lookup is the hot path, and SQLAlchemy's per-execution work (execution context,
events, result objects) costs several times what SQLite spends answering an indexed query.
:class:`DriverRunner` therefore runs the *same* Core statements, compiled once per dialect
into SQL text, on a raw DBAPI cursor from the engine's pool, and applies the columns' own
result processors (so a timestamp comes back as SQLAlchemy would return it). Driver errors are
wrapped as SQLAlchemy wraps them, so :func:`~crm_connectors.builtin.engine.translated_errors`
sees one kind of error whichever runner ran.

Only statements without expanding (``IN`` list) parameters can be prepared; the lookup's
statements are written so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Dialect, Engine, Select
from sqlalchemy import exc as sa_exc
from sqlalchemy.types import TypeEngine

__all__ = [
    "DriverRunner",
    "PreparedCache",
    "PreparedQuery",
    "Runner",
    "SqlaRunner",
    "driver_runner",
    "wrapped_driver_error",
]

_Processor = Callable[[Any], Any] | None
#: Prepared statements of one engine, by ``id(statement)``; share one per connector.
PreparedCache = dict[int, "_Entry"]


class Runner(Protocol):
    """Runs a Core select with bound values and returns its rows as mappings."""

    def rows(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class SqlaRunner:
    """Run statements on a SQLAlchemy connection (any statement, expanding IN lists too)."""

    conn: Connection

    def rows(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        return [dict(row._mapping) for row in self.conn.execute(statement, values)]


@dataclass(frozen=True, slots=True)
class PreparedQuery:
    """A Core select compiled for one dialect: SQL text, parameter order, column types."""

    sql: str
    positions: tuple[str, ...] | None  # bind names in order for "?"-style drivers, else None
    defaults: Mapping[str, Any]  # values SQLAlchemy binds itself (e.g. SQLite's OFFSET 0)
    keys: tuple[str, ...]
    types: tuple[TypeEngine[Any], ...]

    @classmethod
    def prepare(cls, statement: Select[Any], dialect: Dialect) -> PreparedQuery:
        compiled = statement.compile(dialect=dialect)
        sql = str(compiled)
        if "POSTCOMPILE" in sql:
            raise ValueError("a statement with expanding parameters cannot be prepared")
        return cls(
            sql=sql,
            positions=tuple(compiled.positiontup or ()) if compiled.positional else None,
            defaults=dict(compiled.params),
            keys=tuple(statement.selected_columns.keys()),
            types=tuple(column.type.dialect_impl(dialect) for column in statement.selected_columns),
        )

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self.defaults, **values}
        if self.positions is None:
            return merged
        return tuple(merged[name] for name in self.positions)

    def processors(self, dialect: Dialect, description: Sequence[Any]) -> tuple[_Processor, ...]:
        """Return each column's result processor for the driver's type codes (as SQLAlchemy
        picks them: PostgreSQL's numeric processing depends on the code)."""
        return tuple(
            type_.result_processor(dialect, column[1])
            for type_, column in zip(self.types, description, strict=True)
        )


class _Entry:
    """A prepared statement and, once it has run, its column processors."""

    __slots__ = ("prepared", "processors", "statement")

    def __init__(self, statement: Select[Any], prepared: PreparedQuery) -> None:
        self.statement = statement
        self.prepared = prepared
        self.processors: tuple[_Processor, ...] | None = None


class DriverRunner:
    """Run prepared statements on one DBAPI cursor; prepare each statement on first use."""

    def __init__(self, cursor: Any, dialect: Dialect, cache: PreparedCache) -> None:
        self._cursor = cursor
        self._dialect = dialect
        self._cache = cache

    def rows(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        # Keyed by identity (a Select has no value equality); the entry keeps the statement
        # alive, so its id cannot be reused while cached.
        entry = self._cache.get(id(statement))
        if entry is None or entry.statement is not statement:
            entry = _Entry(statement, PreparedQuery.prepare(statement, self._dialect))
            self._cache[id(statement)] = entry
        prepared = entry.prepared
        cursor = self._cursor
        cursor.execute(prepared.sql, prepared.parameters(values))
        processors = entry.processors
        if processors is None:
            processors = entry.processors = prepared.processors(self._dialect, cursor.description)
        keys = prepared.keys
        return [
            {
                key: value if process is None or value is None else process(value)
                for key, process, value in zip(keys, processors, row, strict=True)
            }
            for row in cursor.fetchall()
        ]


@contextmanager
def driver_runner(engine: Engine, cache: PreparedCache) -> Iterator[DriverRunner]:
    """Check a connection out of ``engine``'s pool and run statements on its raw cursor.

    A driver error is re-raised as the SQLAlchemy error the engine would have raised, and a
    connection the dialect recognizes as dead is invalidated so the pool replaces it.
    """
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        raw = engine.raw_connection()
    except dbapi_error as exc:
        raise wrapped_driver_error(exc, dbapi_error, dialect, invalidated=False) from exc
    try:
        cursor = raw.cursor()
        try:
            yield DriverRunner(cursor, dialect, cache)
        finally:
            cursor.close()
        # End the read transaction with COMMIT: the pool's reset would send ROLLBACK, and
        # psycopg forgets every prepared statement on a ROLLBACK, so PostgreSQL would plan
        # the lookup's joins anew for each call (planning costs more than running them).
        raw.commit()
    except dbapi_error as exc:
        dead = dialect.is_disconnect(exc, raw.dbapi_connection, None)
        if dead:
            raw.invalidate(exc)
        raise wrapped_driver_error(exc, dbapi_error, dialect, invalidated=dead) from exc
    finally:
        raw.close()


def wrapped_driver_error(
    exc: Exception, dbapi_error: type[Exception], dialect: Dialect, *, invalidated: bool
) -> sa_exc.StatementError:
    """Return the SQLAlchemy error the engine would raise for driver error ``exc``."""
    return sa_exc.DBAPIError.instance(
        None,
        None,
        exc,
        dbapi_error,
        hide_parameters=True,
        connection_invalidated=invalidated,
        dialect=dialect,
    )
