"""The report buckets (:mod:`cti.reports`), on the store's one MetaData (imported by
:mod:`cti.store`), so the migrations and the schema test see them.

One row per (span, bucket start, dimension, key, metric): what :mod:`cti.reports.buckets` counts.
Writers add to rows (``value = value + new``, or the larger for ``*_max`` metrics); a report reads
the rows of one span, one dimension and a range of starts, which the primary key orders.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Float, String, Table

from cti.store.models import metadata

__all__ = ["report_buckets"]

report_buckets = Table(
    "report_buckets",
    metadata,
    Column("span", String(1), primary_key=True),  # q: 15 min, h: hour (UTC), d: the site's day
    Column("dim", String(8), primary_key=True),  # queue, agent, did, trunk
    Column("start", BigInteger, primary_key=True, autoincrement=False),  # epoch seconds
    Column("key", String(128), primary_key=True),
    Column("metric", String(48), primary_key=True),
    Column("value", Float, nullable=False),
    CheckConstraint("span IN ('q', 'h', 'd')", name="span"),
)
