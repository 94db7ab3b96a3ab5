"""The report buckets' SQL: add counted deltas, read a range (SQLite and PostgreSQL alike).

Both databases take ``INSERT ... ON CONFLICT (primary key) DO UPDATE``; the dialect's own
``insert`` builds it. Sums add to the stored value, ``*_max`` metrics keep the larger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, case, select
from sqlalchemy.dialects import postgresql, sqlite

from cti.reports.buckets import BucketKey, Deltas
from cti.store.report_tables import report_buckets as t

__all__ = ["add_deltas", "bucket_rows"]

_PK = ("span", "dim", "start", "key", "metric")
_CHUNK = 500


def _insert(conn: Connection) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(t)
    if dialect == "sqlite":
        return sqlite.insert(t)
    raise NotImplementedError(f"report buckets on {dialect}")  # the store runs on these two only


def add_deltas(conn: Connection, deltas: Deltas) -> int:
    """Add ``deltas`` to the stored buckets in one transaction; return the rows touched."""
    touched = 0
    for items, kind in ((deltas.sums, "sum"), (deltas.maxes, "max")):
        rows = [_row(key, value) for key, value in items.items()]
        for index in range(0, len(rows), _CHUNK):
            stmt = _insert(conn)
            excluded = stmt.excluded.value
            if kind == "sum":
                value: Any = t.c.value + excluded
            else:
                value = case((excluded > t.c.value, excluded), else_=t.c.value)
            stmt = stmt.on_conflict_do_update(index_elements=list(_PK), set_={"value": value})
            conn.execute(stmt, rows[index : index + _CHUNK])
        touched += len(rows)
    return touched


def _row(key: BucketKey, value: float) -> dict[str, Any]:
    span, start, dim, name, metric = key
    return {"span": span, "dim": dim, "start": start, "key": name, "metric": metric, "value": value}


def bucket_rows(
    conn: Connection,
    *,
    span: str,
    dim: str,
    start: int,
    end: int,
    keys: Sequence[str] | None,
) -> Iterable[tuple[int, str, str, float]]:
    """The (start, key, metric, value) rows of ``span``/``dim`` with ``start <= start < end``.

    ``keys`` None: every key; an empty sequence: none.
    """
    if keys is not None and not keys:
        return []
    query = select(t.c.start, t.c.key, t.c.metric, t.c.value).where(
        t.c.span == span, t.c.dim == dim, t.c.start >= start, t.c.start < end
    )
    if keys is not None:
        query = query.where(t.c.key.in_(list(keys)))
    return [(int(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in conn.execute(query)]
