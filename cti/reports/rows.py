"""The report buckets' SQL: add counted deltas, read a range (SQLite and PostgreSQL alike).

Both databases take ``INSERT ... ON CONFLICT (primary key) DO UPDATE``; the dialect's own
``insert`` builds it. Sums add to the stored value, ``*_max`` metrics keep the larger.

A report whose periods hold several day buckets (weeks, months) is summed by the database,
grouped by period, key and metric, so Python sees one row per period instead of one per bucket
(a year by week: 52 rows a key and metric, not 365). SQLite joins the periods as a ``VALUES``
CTE on the bucket start (the primary key's order serves each period's range); PostgreSQL finds
each row's period with ``width_bucket`` in one range scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    column,
    func,
    select,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite

from cti.reports.buckets import MAX_SUFFIX, BucketKey, Deltas
from cti.store.report_tables import report_buckets as t

__all__ = ["add_deltas", "bucket_rows", "period_rows", "stored_keys"]

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
    return _fetched(conn, query)


def period_rows(
    conn: Connection,
    *,
    span: str,
    dim: str,
    periods: Sequence[tuple[int, int, str]],
    keys: Sequence[str] | None,
) -> list[tuple[str, str, str, float]]:
    """The (period label, key, metric, value) sums of ``span``/``dim`` over ``periods``
    ((first bucket start, end, label), in order, contiguous); ``*_max`` metrics their largest.
    """
    if not periods or (keys is not None and not keys):
        return []
    start, end = periods[0][0], periods[-1][1]
    # Weeks and months of day buckets are summed by the database (7 to 31 rows become one);
    # hours read the hour buckets (one a period), or, in a zone whose hours are not UTC's, the
    # quarters unsummed: measured on SQLite, grouping them cost more than the 4 rows it saves
    # (docs/reports.md).
    grouped = span == "d" and any(hi - lo > 90_000 for lo, hi, _ in periods)
    if not grouped:
        step = {"q": 900, "h": 3600}.get(span, 1 << 40)  # each bucket of a period; a day is one
        labels = {at: label for lo, hi, label in periods for at in range(lo, hi, step)}
        rows = bucket_rows(conn, span=span, dim=dim, start=start, end=end, keys=keys)
        return [(labels[at], key, metric, value) for at, key, metric, value in rows]
    if conn.dialect.name == "postgresql":
        query = _grouped_by_bucket(span, dim, periods)
    else:
        query = _grouped_by_join(span, dim, periods)
    if keys is not None:
        query = query.where(t.c.key.in_(list(keys)))
    return [
        (periods[i][2], key, metric, float(biggest if metric.endswith(MAX_SUFFIX) else total))
        for i, key, metric, total, biggest in _fetched(conn, query)
    ]


def _grouped_by_join(span: str, dim: str, periods: Sequence[tuple[int, int, str]]) -> Select[Any]:
    """SQLite: the periods as a ``VALUES`` CTE joined on the bucket start; each period bounds
    its own range of the primary key."""
    p = (
        values(
            column("i", Integer), column("lo", BigInteger), column("hi", BigInteger), name="periods"
        )
        .data([(i, lo, hi) for i, (lo, hi, _) in enumerate(periods)])
        .cte("periods")
    )
    return (
        select(p.c.i, t.c.key, t.c.metric, func.sum(t.c.value), func.max(t.c.value))
        .select_from(t.join(p, and_(t.c.start >= p.c.lo, t.c.start < p.c.hi)))
        .where(t.c.span == span, t.c.dim == dim)
        .group_by(p.c.i, t.c.key, t.c.metric)
    )


def _grouped_by_bucket(span: str, dim: str, periods: Sequence[tuple[int, int, str]]) -> Select[Any]:
    """PostgreSQL: one range scan, each row's period found by ``width_bucket`` over the
    periods' first starts (a binary search). The join above is planned as a nested loop there
    (every row against every period: a year by week took 1.2-1.4 s, this 0.2 s; 60-80 ms once
    the table is analysed, docs/reports.md)."""
    edges = bindparam("edges", [lo for lo, _, _ in periods], type_=postgresql.ARRAY(BigInteger))
    period = (func.width_bucket(t.c.start, edges) - 1).label("i")
    return (
        select(period, t.c.key, t.c.metric, func.sum(t.c.value), func.max(t.c.value))
        .where(t.c.span == span, t.c.dim == dim)
        .where(t.c.start >= periods[0][0], t.c.start < periods[-1][1])
        .group_by(period, t.c.key, t.c.metric)
    )


def _fetched(conn: Connection, query: Select[Any]) -> list[Any]:
    """The rows of ``query`` as the driver returns them (tuples of int, str and float here).

    SQLAlchemy builds, caches and runs the statement; the DB-API cursor's ``fetchall`` skips its
    per-row ``Row`` objects, which cost more than the query: an agent month by day (62,000 rows)
    took 140-200 ms through ``Result`` against 80 ms from the cursor (SQLite, docs/reports.md).
    """
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def stored_keys(conn: Connection, dim: str, *, limit: int = 500) -> list[str]:
    """The keys of ``dim`` that have day buckets (at most ``limit``, in order)."""
    query = (
        select(t.c.key)
        .where(t.c.span == "d", t.c.dim == dim)
        .group_by(t.c.key)
        .order_by(t.c.key)
        .limit(limit)
    )
    return [str(key) for key in conn.execute(query).scalars()]
