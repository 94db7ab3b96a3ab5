"""The lookup's statements give the same answers on the raw driver as through SQLAlchemy,
and on SQLite they probe indexes rather than scan tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Select, Table, func, select
from sqlalchemy import exc as sa_exc

from crm_connectors.base import LookupOptions
from crm_connectors.builtin import create_crm_engine, reads, seed_bulk
from crm_connectors.builtin.bulk_rows import main_number
from crm_connectors.builtin.models import contacts
from crm_connectors.builtin.rows import RefMaker
from crm_connectors.builtin.runner import PreparedCache, PreparedQuery, SqlaRunner, driver_runner

STATUSES = {f"status_{slot}": None for slot in range(reads.MAX_OPEN_STATUSES)} | {
    "status_0": "open",
    "status_1": "escalated",
}
LINKED = {"system": "builtin", "object_type": "contact", "record_id": "1"}
CASES: list[tuple[Select[object], dict[str, object]]] = [
    (reads._CONTACTS_BY_PHONE, {"e164": "+442079460010", "max_matches": 10}),
    (reads._ACCOUNTS_BY_PHONE, {"e164": "+442079460000", "max_matches": 10}),
    (reads._OPEN_CASES_OF_CONTACT, {**STATUSES, "owner": 1, "limit": 10}),
    (reads._OPEN_CASES_OF_ACCOUNT, {**STATUSES, "owner": 1, "limit": 10}),
    (reads._HISTORY_OF_CONTACT, {**LINKED, "contact": 1, "limit": 10}),
    (reads._HISTORY_OF_ACCOUNT, {**LINKED, "phone": "+442079460001", "limit": 10}),
    (reads._HISTORY_OF_LINKED, {**LINKED, "limit": 10}),
    (reads._HISTORY_OF_NUMBER, {"e164": "+442079460001", "limit": 10}),
]


@pytest.fixture
def engine(demo_url: str) -> Iterator[Engine]:
    engine = create_crm_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("statement", "values"), CASES)
def test_driver_rows_equal_sqlalchemy_rows(
    engine: Engine, statement: Select[object], values: dict[str, object]
) -> None:
    cache: PreparedCache = {}
    with engine.connect() as conn:
        expected = SqlaRunner(conn).rows(statement, values)
    with driver_runner(engine, cache) as runner:
        first = runner.rows(statement, values)
        again = runner.rows(statement, values)  # prepared and processors cached
    assert expected  # each case finds something in the demo
    assert list(first) == list(expected) == list(again)


@pytest.mark.parametrize("number", ["+442079460001", "+442079460010", "+442079460000"])
def test_lookup_is_the_same_on_either_runner(engine: Engine, number: str) -> None:
    refs, options = RefMaker("builtin"), LookupOptions()
    with engine.connect() as conn:
        expected = reads.lookup(SqlaRunner(conn), number, options, refs)
    with driver_runner(engine, {}) as runner:
        assert reads.lookup(runner, number, options, refs) == expected


def test_statements_with_in_lists_cannot_be_prepared(engine: Engine) -> None:
    with pytest.raises(ValueError, match="expanding"):
        PreparedQuery.prepare(reads._CONTACTS_BY_IDS, engine.dialect)


def test_driver_errors_come_out_as_sqlalchemy_errors(engine: Engine) -> None:
    missing = Table("crm_missing", MetaData(), Column("id", Integer))
    with pytest.raises(sa_exc.DBAPIError) as caught, driver_runner(engine, {}) as runner:
        runner.rows(select(missing.c.id), {})
    assert caught.value.orig is not None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("analyzed", [False, True])
def test_sqlite_plans_probe_indexes(engine: Engine, analyzed: bool) -> None:
    if analyzed:
        seed_bulk(engine, 500, calls_per_contact=2)  # ANALYZEs
    cache: PreparedCache = {}
    with driver_runner(engine, cache) as runner:
        for statement, values in CASES:
            runner.rows(statement, values)
    raw = engine.raw_connection()
    try:
        for (statement, values), entry in zip(CASES, cache.values(), strict=True):
            prepared = entry.prepared
            plan = raw.cursor().execute(
                "EXPLAIN QUERY PLAN " + prepared.sql, prepared.parameters(values)
            )
            details = [row[3] for row in plan]
            assert not [step for step in details if step.startswith("SCAN")], (statement, details)
    finally:
        raw.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bulk_calls_show_in_the_history(engine: Engine) -> None:
    with engine.connect() as conn:
        last = conn.execute(select(func.max(contacts.c.id))).scalar_one()
    seed_bulk(engine, 30, calls_per_contact=3)
    with driver_runner(engine, {}) as runner:
        (match,) = reads.lookup(
            runner, main_number(last + 8), LookupOptions(max_history=5), RefMaker("builtin")
        )
    assert {entry.call_id for entry in match.history} == {
        f"bulk:{last + 8}:{turn}" for turn in range(3)
    }
    times = [entry.started_at for entry in match.history]
    assert times == sorted(times, reverse=True)
