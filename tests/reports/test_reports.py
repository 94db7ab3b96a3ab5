"""Reports on a real store (SQLite, and PostgreSQL marked ``postgres``): recorded lab calls are
counted by the recorder, written off the loop, and read back by admins and supervisors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.core.tracker import CallTracker
from cti.errors import CtiError, PermissionDenied, ValidationFailed
from cti.principal import Principal, Role
from cti.reports.buckets import Counting, Deltas
from cti.reports.query import RangeTooLong, UnknownKey, UnknownTimeZone
from cti.reports.recorder import FactRecorder
from cti.reports.rows import add_deltas
from cti.reports.service import OutOfScope, Reports, report_csv
from cti.store import GroupSpec, Store
from tests.transcript import events_of, frames, is_agent

TZ = ZoneInfo("Europe/London")
ADMIN = Principal("root", "Root", Role.ADMIN)
SUE = Principal("sue", "Sue", Role.SUPERVISOR)
TOM = Principal("tom", "Tom", Role.SUPERVISOR)
AGENT = Principal("alice", "Alice", Role.AGENT)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    store.upgrade()
    for name in ("sue", "tom"):
        store.create_agent(name, role="supervisor")
    store.create_group(GroupSpec(name="Sales", queues=("sales",), supervisors=("sue",)))
    store.create_group(GroupSpec(name="Support", queues=("support",), supervisors=("tom",)))
    yield store
    store.close()


def _names(endpoint: str) -> str:
    return {"PJSIP/1001": "alice", "PJSIP/1002": "bob"}.get(endpoint, endpoint)


async def _replay(recorder: FactRecorder, *names: str) -> None:
    tracker = CallTracker(is_agent)
    for name in names:
        for event in events_of(frames(name)):
            recorder.observe(event, tracker.feed(event))
    assert await recorder.flush()


def _day_of(store: Store) -> str:
    with store.reading("test") as conn:
        start = conn.exec_driver_sql(
            "SELECT min(start) FROM report_buckets WHERE span='d'"
        ).scalar()
    return datetime.fromtimestamp(int(start), TZ).date().isoformat()


async def test_recorded_calls_reported_and_written_twice_add_up(store: Store) -> None:
    recorder = FactRecorder(store.aio, Counting(tz=TZ, short_abandon_s=2), _names)
    await _replay(recorder, "queue_abandoned", "queue_ringall_second_answers")
    reports = Reports(store.aio, TZ)
    day = _day_of(store)
    params = {"dim": "queue", "by": "day", "from": day, "to": day}
    body = await reports.report(ADMIN, params)
    (total,) = body["totals"]
    assert total["key"] == "sales"
    assert (total["offered"], total["answered"], total["abandoned"], total["abandoned_short"]) == (
        2, 1, 1, 0,
    )  # fmt: skip
    assert total["asa_s"] == 1.0
    assert total["service_level_pct"] == 50.0
    assert total["longest_wait_s"] == 3.0
    # The same calls again: the buckets add (an upsert that replaced would still say 2).
    await _replay(recorder, "queue_abandoned", "queue_ringall_second_answers")
    again = (await reports.report(ADMIN, params))["totals"][0]
    assert (again["offered"], again["answered"], again["longest_wait_s"]) == (4, 2, 3.0)
    by_group = await reports.report(SUE, {**params, "dim": "group"})
    assert [(r["key"], r["offered"]) for r in by_group["totals"]] == [("Sales", 4)]
    agents = await reports.report(ADMIN, {**params, "dim": "agent"})
    assert {r["key"]: r["queue_calls"] for r in agents["totals"]} == {"alice": 0, "bob": 2}
    text = report_csv(body)
    assert text.splitlines()[0].startswith("period,queue,offered,answered,abandoned")
    assert text.splitlines()[-1].startswith("total,sales,2,1,1,0")


async def test_scope_and_bad_input(store: Store) -> None:
    reports = Reports(store.aio, TZ, clock=lambda: datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    with pytest.raises(OutOfScope):  # Sue asks for Tom's queue
        await reports.report(SUE, {"dim": "queue", "keys": "support"})
    with pytest.raises(OutOfScope):
        await reports.report(SUE, {"dim": "group", "keys": "Support"})
    with pytest.raises(OutOfScope):
        await reports.report(SUE, {"dim": "trunk"})
    with pytest.raises(UnknownKey):
        await reports.report(SUE, {"dim": "queue", "keys": "nosuch"})
    with pytest.raises(UnknownKey):
        await reports.report(ADMIN, {"dim": "queue", "keys": "nosuch"})
    with pytest.raises(PermissionDenied):
        await reports.report(AGENT, {})
    with pytest.raises(RangeTooLong) as too_long:
        await reports.report(ADMIN, {"by": "month", "from": "2016-01-01", "to": "2026-01-01"})
    assert too_long.value.status == 422 and too_long.value.error_id == "report.range"
    with pytest.raises(RangeTooLong):
        await reports.report(ADMIN, {"by": "15m", "from": "2026-01-01", "to": "2026-03-01"})
    with pytest.raises(UnknownTimeZone):
        await reports.report(ADMIN, {"tz": "Mars/Olympus_Mons"})
    with pytest.raises(UnknownTimeZone):
        await reports.report(ADMIN, {"tz": "../../etc/passwd"})
    bad: list[dict[str, Any]] = [{"by": "year"}, {"dim": "cdr"}, {"from": "yesterday"}]
    for params in bad:
        with pytest.raises(ValidationFailed):
            await reports.report(ADMIN, params)
    empty = await reports.report(SUE, {"dim": "queue"})
    assert empty["rows"] == [] and empty["tz"] == "Europe/London" and empty["to"] == "2026-12-02"


def test_errors_carry_status_and_id() -> None:
    for exc, status in ((OutOfScope("x"), 403), (UnknownKey("x"), 404), (RangeTooLong("x"), 422)):
        assert isinstance(exc, CtiError) and exc.status == status


async def test_every_period_sums_its_buckets_by_hour_week_and_month(store: Store) -> None:
    """Quarter hours add up to their hour, days to their week (Monday) and month, in the site's
    time zone across a DST change, the longest wait kept as the largest (SQLite and PostgreSQL:
    weeks and months are summed by the database)."""
    tz = ZoneInfo("Europe/London")
    deltas = Deltas(Counting(tz))
    # 2026-10-24 (Sat) to 2026-11-02 (Mon); British Summer Time ends on Sunday 2026-10-25.
    for day in range(24, 34):
        month, mday = (10, day) if day <= 31 else (11, day - 31)
        for minute in (5, 20, 35, 50):  # four quarters of the 9 o'clock hour, 2 calls each
            at = datetime(2026, month, mday, 9, minute, tzinfo=tz).timestamp()
            deltas.add(at, "queue", "sales", "offered", 2)
            deltas.add(at, "queue", "sales", "wait_max", minute)
    with store.writing("test") as conn:
        add_deltas(conn, deltas)
    admin = Principal("root", "root", Role.ADMIN)
    reports = Reports(
        store.aio, tz, clock=lambda: datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp()
    )
    span = {"dim": "queue", "keys": "sales", "from": "2026-10-24", "to": "2026-11-02"}
    by_hour = await reports.report(admin, {**span, "by": "hour"})
    assert {r["period"][11:] for r in by_hour["rows"]} == {"09:00"}
    assert [(r["offered"], r["longest_wait_s"]) for r in by_hour["rows"]] == [(8, 50)] * 10
    by_week = await reports.report(admin, {**span, "by": "week"})
    assert [(r["period"], r["offered"]) for r in by_week["rows"]] == [
        ("2026-10-19", 16), ("2026-10-26", 56), ("2026-11-02", 8),
    ]  # fmt: skip
    by_month = await reports.report(admin, {**span, "by": "month"})
    assert [(r["period"], r["offered"], r["longest_wait_s"]) for r in by_month["rows"]] == [
        ("2026-10-01", 64, 50), ("2026-11-01", 16, 50),
    ]  # fmt: skip
    assert by_month["totals"][0]["offered"] == by_week["totals"][0]["offered"] == 80
