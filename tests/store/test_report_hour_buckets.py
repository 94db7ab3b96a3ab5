"""Hour buckets (span ``h``, migration s0022): counted beside quarters and days, rolled up from
the quarters already stored when the store is upgraded (sums add, ``*_max`` keep the largest),
read by reports by hour in zones whose hours are UTC's; a half-hour zone still reads quarters."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from cti.principal import Principal, Role
from cti.reports.buckets import Counting, Deltas
from cti.reports.rows import add_deltas
from cti.reports.service import Reports
from cti.store import Store, migrations

LONDON = ZoneInfo("Europe/London")
ADMIN = Principal("root", "root", Role.ADMIN)
NOON = int(datetime(2026, 11, 3, 12, 0, tzinfo=LONDON).timestamp())  # a UTC hour's start


def test_a_fact_counts_into_its_quarter_hour_and_day() -> None:
    deltas = Deltas(Counting(LONDON))
    deltas.add(NOON + 1000, "queue", "sales", "offered", 1)
    deltas.add(NOON + 1000, "queue", "sales", "wait_max", 40)
    deltas.add_span(NOON + 3000, NOON + 3900, "agent", "alice", "login")  # across the hour
    spans = sorted((span, start) for span, start, dim, *_ in deltas.sums if dim == "queue")
    assert spans == [("d", NOON - 12 * 3600), ("h", NOON), ("q", NOON + 900)]
    assert deltas.maxes[("h", NOON, "queue", "sales", "wait_max")] == 40
    assert deltas.sums[("h", NOON, "agent", "alice", "login")] == 600
    assert deltas.sums[("h", NOON + 3600, "agent", "alice", "login")] == 300


async def test_the_upgrade_rolls_quarters_up_into_hours_and_reports_read_them(
    store_url: str,
) -> None:
    migrations.upgrade(store_url, "s0021")
    engine = create_engine(store_url)
    insert = text(
        "INSERT INTO report_buckets (span, dim, start, key, metric, value) "
        "VALUES ('q', 'queue', :start, 'sales', :metric, :value)"
    )
    quarters = [(NOON + 900 * i, i + 1) for i in range(8)]  # two hours, 1..8 offered
    with engine.begin() as conn:
        for start, n in quarters:
            conn.execute(insert, {"start": start, "metric": "offered", "value": n})
            conn.execute(insert, {"start": start, "metric": "wait_max", "value": 10 * n})
    migrations.upgrade(store_url)
    with engine.connect() as conn:
        hours = conn.execute(
            text("SELECT start, metric, value FROM report_buckets WHERE span = 'h' ORDER BY 1, 2")
        ).all()
    assert [tuple(h) for h in hours] == [
        (NOON, "offered", 10.0), (NOON, "wait_max", 40.0),
        (NOON + 3600, "offered", 26.0), (NOON + 3600, "wait_max", 80.0),
    ]  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the check still holds
        conn.execute(text("INSERT INTO report_buckets VALUES ('x', 'queue', 0, 'k', 'm', 1)"))
    engine.dispose()

    store = Store(store_url)
    try:
        with store.writing("test") as conn:  # counted after the upgrade: into all three
            deltas = Deltas(Counting(LONDON))
            deltas.add(NOON + 60, "queue", "sales", "offered", 1)
            add_deltas(conn, deltas)
        reports = Reports(store.aio, LONDON)
        day = {"dim": "queue", "by": "hour", "from": "2026-11-03", "to": "2026-11-03"}
        by_hour = await reports.report(ADMIN, day)
        assert [(r["period"], r["offered"]) for r in by_hour["rows"]] == [
            ("2026-11-03T12:00", 11.0), ("2026-11-03T13:00", 26.0),
        ]  # fmt: skip
        assert by_hour["rows"][1]["longest_wait_s"] == 80.0
        india = await reports.report(ADMIN, {**day, "tz": "Asia/Kolkata"})  # quarters
        assert sum(r["offered"] for r in india["rows"]) == 37.0
        assert [r["period"] for r in india["rows"]] == [
            "2026-11-03T17:00", "2026-11-03T18:00", "2026-11-03T19:00",
        ]  # 12:00 UTC is 17:30 there: its hours straddle the UTC hours  # fmt: skip
    finally:
        store.close()
