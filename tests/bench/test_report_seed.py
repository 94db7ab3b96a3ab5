"""``cti bench reports`` seeds calls through the daemon's own counting: a few days of synthetic
calls written into a real SQLite store read back through the report API as the calls say, and
the calls themselves are in the CRM's table of the same database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_connectors.builtin import upgrade as upgrade_crm
from crm_connectors.builtin.models import calls as crm_calls
from cti.core.records import CallRecord, Direction, Outcome
from cti.principal import Principal, Role
from cti.reports.service import Reports
from cti.store import Store
from cti.store.report_tables import report_buckets
from sip_tests.bench.report_calls import CallMaker, Centre, agent_of, calls_per_day
from sip_tests.bench.reports import TZ, Plan, seed_calls, stored_rows

TODAY = date(2026, 3, 30)  # the day before is 23 hours long in London (summer time from 01:00)
PLAN = Plan(
    Centre(queues=2, agents=6, dids=3, trunks=2), calls=400, q_days=2, agent_q_days=1, days=3
)
ADMIN = Principal("root", "Root", Role.ADMIN)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    store = Store(url)
    store.upgrade()
    upgrade_crm(url)
    seed_calls({"SQLite": store}, PLAN, TODAY)
    yield store
    store.close()


def _made() -> list[CallRecord]:
    """The calls the bench made, made again from the same seed."""
    maker = CallMaker(PLAN.centre, TZ)
    days = PLAN.dates(TODAY)
    counts = calls_per_day(PLAN.calls, days)
    return [
        record for day, n in zip(days, counts, strict=True) for record in maker.day(day, n).records
    ]


def _local_day(at: datetime) -> str:
    return at.astimezone(TZ).date().isoformat()


def _joined(record: CallRecord) -> datetime:
    """When the caller joined the queue: the wait ends when answered, or when the call ends."""
    assert record.wait_seconds is not None
    return (record.answered_at or record.ended_at) - timedelta(seconds=record.wait_seconds)


async def _figures(store: Store, dim: str, *names: str) -> dict[tuple[str, str], tuple[float, ...]]:
    params = {"dim": dim, "by": "day", "from": PLAN.dates(TODAY)[0].isoformat()}
    body = await Reports(store.aio, TZ).report(ADMIN, {**params, "to": TODAY.isoformat()})
    return {(row["period"], row["key"]): tuple(row[name] for name in names) for row in body["rows"]}


async def test_report_figures_are_those_of_the_calls_made(store: Store) -> None:
    made = _made()
    inbound = [r for r in made if r.direction is Direction.INBOUND]
    queues: Counter[tuple[str, str, bool]] = Counter(
        (_local_day(_joined(r)), str(r.queue), r.outcome is Outcome.ANSWERED) for r in inbound
    )
    dids: Counter[tuple[str, str, bool]] = Counter(
        (_local_day(r.started_at), str(r.did), r.outcome is Outcome.ANSWERED) for r in inbound
    )
    outbound: Counter[tuple[str, str]] = Counter(
        (_local_day(r.started_at), agent_of(r.answered_by))
        for r in made
        if r.direction is Direction.OUTBOUND and r.answered_by is not None
    )
    for dim, counted in (("queue", queues), ("did", dids)):
        expected = {
            (day, key): (
                counted[day, key, True] + counted[day, key, False],
                counted[day, key, True],
            )
            for day, key, _ in counted
        }
        assert await _figures(store, dim, "offered", "answered") == expected
    agents = await _figures(store, "agent", "outbound")
    assert {cell: n for cell, (n,) in agents.items() if n} == dict(outbound)
    assert {day for day, _ in outbound} == {day.isoformat() for day in PLAN.dates(TODAY)}


def test_the_calls_counted_are_in_the_crm_and_old_quarters_are_dropped(store: Store) -> None:
    made = _made()
    with store.reading("test") as conn:
        rows = conn.execute(
            select(crm_calls.c.call_id, crm_calls.c.direction, crm_calls.c.caller_number)
        ).all()
        oldest = dict(
            conn.execute(
                select(report_buckets.c.dim, func.min(report_buckets.c.start))
                .where(report_buckets.c.span != "d")
                .group_by(report_buckets.c.dim)
            ).all()
        )
    assert sorted(tuple(row) for row in rows) == sorted(
        (r.call_id, r.direction.value, r.caller_number) for r in made
    )
    assert stored_rows(store)["calls"] == PLAN.calls == len(made)
    midnight = {
        day: datetime(day.year, day.month, day.day, tzinfo=TZ).timestamp()
        for day in PLAN.dates(TODAY)
    }
    yesterday, today = midnight[date(2026, 3, 29)], midnight[TODAY]
    assert oldest["agent"] >= today  # agents: today's quarters only
    assert yesterday <= oldest["queue"] < today  # queues: yesterday's and today's
