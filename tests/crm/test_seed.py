"""The demo seed is idempotent and holds what the pop needs; the bulk seed makes findable rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from crm_connectors.base import MatchCount
from crm_connectors.builtin import BuiltinCrm, bulk_rows, create_crm_engine, seed_bulk, seed_demo
from crm_connectors.builtin.engine import writer
from crm_connectors.builtin.models import (
    accounts,
    call_matches,
    calls,
    cases,
    contact_phones,
    contacts,
    metadata,
)
from crm_connectors.builtin.seed_sql import insert_generated
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
    assert seed_bulk(db, 2_000, batch=700) == 2_000
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


# Columns compared per table: the database assigns the keys of phones and cases itself.
GENERATED_COLUMNS = {
    accounts: ("id", "name", "phone_e164", "account_type", "industry", "created_at"),
    contacts: ("id", "account_id", "first_name", "last_name", "email", "title", "created_at"),
    contact_phones: ("contact_id", "e164", "label", "position"),
    cases: ("number", "subject", "status", "contact_id", "account_id", "opened_at", "closed_at"),
}


def test_rows_generated_by_the_database_are_the_bulk_plans(db: Engine) -> None:
    seed_demo(db, REGION, now=NOW)  # so keys do not start at 1
    before = counts(db)
    plan = bulk_rows.BulkPlan(
        first_contact=before[contacts.name] + 1,
        first_account=before[accounts.name] + 1,
        first_call=1,
        per_account=7,
        calls_per_contact=0,
        now=datetime(2026, 5, 1, 10, 30, 15, 123456, tzinfo=UTC),
    )
    keys = range(plan.first_contact, plan.first_contact + 53)
    expected = {table.name: rows for table, rows in plan.rows(keys)}
    with writer(db).begin() as conn:
        insert_generated(
            conn,
            keys,
            first_contact=plan.first_contact,
            first_account=plan.first_account,
            per_account=plan.per_account,
            now=plan.now,
        )
        for table, columns in GENERATED_COLUMNS.items():
            key = table.c.id if table in (accounts, contacts) else table.c.contact_id
            first = plan.first_account if table is accounts else plan.first_contact
            query = select(*(table.c[name] for name in columns)).where(key >= first)
            got = sorted(tuple(row) for row in conn.execute(query))
            want = sorted(tuple(row.get(name) for name in columns) for row in expected[table.name])
            assert got == want, table.name
    assert len(expected[cases.name]) == 10  # every fifth contact has a case
