"""Report buckets by hour (span ``h``): the 15-minute buckets rolled up by UTC hour.

A week by hour then reads 168 rows a key and metric instead of 672 (docs/reports.md). The span
check is widened (SQLite rebuilds the table for it) and the hours are filled from the quarters
already stored: sums add up, ``*_max`` metrics keep the largest. From now on the daemon counts
every fact into its hour too (cti.reports.buckets).

Revision ID: s0022
Revises: s0021
Create Date: 2027-01-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "s0022"
down_revision: str | None = "s0021"
branch_labels: str | None = None
depends_on: str | None = None

_CHECK = "ck_report_buckets_span"
_BACKFILL = """
INSERT INTO report_buckets (span, dim, start, key, metric, value)
SELECT 'h', dim, start - start % 3600, key, metric,
       CASE WHEN metric LIKE '%\\_max' ESCAPE '\\' THEN MAX(value) ELSE SUM(value) END
FROM report_buckets
WHERE span = 'q'
GROUP BY dim, start - start % 3600, key, metric
"""


def _spans(allowed: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        old = sa.Table(  # what s0010 made, without its check: the rebuilt table gets the new one
            "report_buckets",
            sa.MetaData(),
            sa.Column("span", sa.String(length=1), nullable=False),
            sa.Column("dim", sa.String(length=8), nullable=False),
            sa.Column("start", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("key", sa.String(length=128), nullable=False),
            sa.Column("metric", sa.String(length=48), nullable=False),
            sa.Column("value", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint(
                "span", "dim", "start", "key", "metric", name="pk_report_buckets"
            ),
        )
        with op.batch_alter_table("report_buckets", copy_from=old, recreate="always") as batch:
            batch.create_check_constraint(op.f(_CHECK), f"span IN ({allowed})")
        return
    op.drop_constraint(_CHECK, "report_buckets", type_="check")
    op.create_check_constraint(op.f(_CHECK), "report_buckets", f"span IN ({allowed})")


def upgrade() -> None:
    _spans("'q', 'h', 'd'")
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.execute("DELETE FROM report_buckets WHERE span = 'h'")
    _spans("'q', 'd'")
