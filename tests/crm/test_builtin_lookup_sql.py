"""The one-statement lookup on a thread's own connection answers what the three-statement
reference (:func:`reads.lookup`) answers, on both backends, and survives a lost connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import Engine, func, select

from crm_connectors.base import LookupOptions
from crm_connectors.builtin import BuiltinCrm, create_crm_engine, reads, seed_bulk
from crm_connectors.builtin.bulk_rows import main_number
from crm_connectors.builtin.dedicated import LookupConnections
from crm_connectors.builtin.models import contacts
from crm_connectors.builtin.rows import RefMaker
from crm_connectors.builtin.runner import driver_runner
from cti.errors import CrmUnavailable
from tests.crm.conftest import REGION

DEMO_NUMBERS = [
    "+442079460001",  # a contact with two numbers, open cases and calls
    "+442079460010",  # a shared line: several contacts
    "+442079460000",  # the switchboard: an account, no contact
    "+12025550123",
    "+442079469999",  # nobody
]
OPTIONS = [
    LookupOptions(),
    LookupOptions(max_matches=1, max_history=1, max_open_cases=1),
    LookupOptions(max_history=0, max_open_cases=0),
    LookupOptions(open_case_statuses=()),
    LookupOptions(open_case_statuses=("CLOSED", "Open")),
]


@dataclass(frozen=True)
class Seeded:
    engine: Engine
    bulk_numbers: list[str]  # generated contacts with cases and calls


@pytest.fixture
def seeded(demo_url: str) -> Iterator[Seeded]:
    engine = create_crm_engine(demo_url)
    with engine.connect() as conn:
        last = conn.execute(select(func.max(contacts.c.id))).scalar_one()
    seed_bulk(engine, 40, calls_per_contact=3)
    yield Seeded(engine, [main_number(last + step) for step in (1, 5, 10, 20)])
    engine.dispose()


@pytest.mark.parametrize("options", OPTIONS, ids=range(len(OPTIONS)))
def test_one_statement_answers_as_the_reference(seeded: Seeded, options: LookupOptions) -> None:
    engine = seeded.engine
    refs = RefMaker("builtin", "https://crm.example/{object_type}/{record_id}")
    lookups = LookupConnections(engine)
    try:
        found = 0
        for number in [*DEMO_NUMBERS, *seeded.bulk_numbers]:
            with driver_runner(engine, {}) as runner:
                expected = reads.lookup(runner, number, options, refs)
            assert lookups.lookup(number, options, refs) == expected, number
            found += len(expected)
        assert found >= 7  # the numbers do match contacts, accounts and shared lines
    finally:
        lookups.close()


def test_matches_carry_cases_and_history(seeded: Seeded) -> None:
    lookups = LookupConnections(seeded.engine)
    try:
        (match,) = lookups.lookup("+442079460001", LookupOptions(), RefMaker("builtin"))
        assert match.open_cases and match.history
        assert all(case.opened_at.tzinfo is not None for case in match.open_cases)
        bulk = lookups.lookup(seeded.bulk_numbers[1], LookupOptions(), RefMaker("builtin"))
        assert [len(m.history) for m in bulk] == [3]
    finally:
        lookups.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_lost_connection_is_unavailable_once_then_replaced(demo_url: str) -> None:
    crm = BuiltinCrm.from_url(demo_url, default_region=REGION, max_workers=1)
    try:
        assert crm.lookup_sync("+442079460001").single is not None
        database = demo_url.rsplit("/", 1)[1]
        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True
        ) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        with pytest.raises(CrmUnavailable):
            crm.lookup_sync("+442079460001")
        assert crm.lookup_sync("+442079460001").single is not None
    finally:
        crm.close_sync()


def test_closed_connections_refuse_lookups(seeded: Seeded) -> None:
    lookups = LookupConnections(seeded.engine)
    lookups.lookup("+442079460001", LookupOptions(), RefMaker("builtin"))
    lookups.close()
    with pytest.raises(Exception, match="closed"):
        lookups.lookup("+442079460001", LookupOptions(), RefMaker("builtin"))
