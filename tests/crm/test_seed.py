"""The demo seed is idempotent and holds what the pop needs; the bulk seed makes findable rows."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from crm_connectors.base import MatchCount
from crm_connectors.builtin import BuiltinCrm, create_crm_engine, seed_bulk, seed_demo
from crm_connectors.builtin.models import (
    accounts,
    call_matches,
    calls,
    cases,
    contact_phones,
    contacts,
    metadata,
)
from cti.errors import ValidationFailed
from tests.crm.conftest import NOW, REGION


@pytest.fixture
def db(migrated_url: str) -> Iterator[Engine]:
    engine = create_crm_engine(migrated_url)
    yield engine
    engine.dispose()


def counts(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def test_the_demo_seed_is_idempotent(db: Engine) -> None:
    seed_demo(db, REGION, now=NOW)
    first = counts(db)
    seed_demo(db, REGION, now=NOW)
    seed_demo(db, REGION)  # another day: still nothing new
    assert counts(db) == first
    assert first == {
        accounts.name: 4,
        contacts.name: 10,
        contact_phones.name: 11,
        cases.name: 15,
        calls.name: 9,
        call_matches.name: 8,
    }


def test_the_demo_holds_markup_verbatim_and_uk_and_us_numbers(db: Engine) -> None:
    seed_demo(db, REGION, now=NOW)
    with db.connect() as conn:
        names = conn.execute(select(contacts.c.first_name, contacts.c.last_name)).all()
        numbers = set(conn.execute(select(contact_phones.c.e164)).scalars())
    assert ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>") in names
    assert all(n.startswith(("+44207946", "+1202555")) for n in numbers)
    assert any(n.startswith("+1202555") for n in numbers)


async def test_the_demo_calls_are_matched_under_the_connector_name(migrated_url: str) -> None:
    seed_demo(migrated_url, REGION, system="crm", now=NOW)
    async with BuiltinCrm.from_url(migrated_url, default_region=REGION, name="crm") as crm:
        match = (await crm.lookup("+442079460002")).single
        assert match is not None
        assert [call.call_id for call in await crm.history(match.ref)] == [
            "demo:1001",
            "demo:1002",
            "demo:1003",
        ]


async def test_bulk_seed_makes_findable_contacts_and_appends(db: Engine) -> None:
    seed_demo(db, REGION, now=NOW)
    before = counts(db)
    started = time.perf_counter()
    assert seed_bulk(db, 2_000, batch=700) == 2_000
    assert time.perf_counter() - started < 30
    after = counts(db)
    assert after[contacts.name] == before[contacts.name] + 2_000
    assert after[contact_phones.name] == before[contact_phones.name] + 2_200
    assert after[accounts.name] == before[accounts.name] + 100
    assert after[cases.name] == before[cases.name] + 400

    seed_bulk(db, 10)
    assert counts(db)[contacts.name] == after[contacts.name] + 10

    crm = BuiltinCrm(db, default_region=REGION)
    try:
        first_bulk = before[contacts.name] + 1
        result = crm.lookup_sync(f"+44203{first_bulk:07d}")
        assert result.match_count is MatchCount.ONE
        match = result.single
        assert match is not None
        assert match.account is not None
        assert match.account.name.startswith("Bulk Account")
        assert crm.lookup_sync("+442079460001").single is not None  # the demo is still there
    finally:
        crm.close_sync()


def test_bulk_seed_refuses_what_its_numbering_cannot_hold(db: Engine) -> None:
    with pytest.raises(ValidationFailed):
        seed_bulk(db, -1)
    with pytest.raises(ValidationFailed):
        seed_bulk(db, 10_000_000)
