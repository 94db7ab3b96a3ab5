"""log_call (idempotent on call_id), link_number and create_contact, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import ColumnElement, Engine, Table, event, func, select

from crm_connectors.base import MatchCount, NewContact, RecordRef
from crm_connectors.builtin import BuiltinCrm, create_crm_engine
from crm_connectors.builtin.models import call_matches, calls, contact_phones, contacts
from cti.core.records import CallRecord, CrmMatch, Direction, Outcome
from cti.errors import NotFound, ValidationFailed
from tests.crm.conftest import contact_ref

START = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
RECORD = CallRecord(
    call_id="pbx1:1763717400.42",
    server="pbx1",
    direction=Direction.INBOUND,
    outcome=Outcome.ANSWERED,
    started_at=START,
    answered_at=START + timedelta(seconds=14),
    ended_at=START + timedelta(seconds=200),
    caller_number="02079460001",
    caller_name="ARCHER A",
    called_number="+442079460500",
    did="+442079460500",
    trunk="PJSIP/trunk-sip",
    queue="support",
    wait_seconds=14.0,
    talk_seconds=180.0,
    hold_seconds=6.0,
    agents_rung=("PJSIP/1001", "PJSIP/1002"),
    answered_by="PJSIP/1002",
    notes="Wants a callback on Friday.",
    disposition="callback",
    matches=(CrmMatch("builtin", "contact", "1"), CrmMatch("salesforce", "Contact", "003xx")),
    flags=("recorded", "transferred"),
)


@pytest.fixture
def db(demo_url: str) -> Iterator[Engine]:
    """A second engine on the same database, to look at the rows themselves."""
    engine = create_crm_engine(demo_url)
    yield engine
    engine.dispose()


def count(db: Engine, table: Table, *where: ColumnElement[bool]) -> int:
    with db.connect() as conn:
        statement = select(func.count()).select_from(table).where(*where)
        return int(conn.execute(statement).scalar_one())


async def test_log_call_stores_every_field(crm: BuiltinCrm, db: Engine) -> None:
    call_key = await crm.log_call(RECORD)

    with db.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.call_id == RECORD.call_id)).one()
        matched = conn.execute(
            select(call_matches.c.system, call_matches.c.object_type, call_matches.c.record_id)
            .where(call_matches.c.call_pk == row.id)
            .order_by(call_matches.c.system)
        ).all()
    assert str(row.id) == call_key
    assert (row.server, row.direction, row.outcome) == ("pbx1", "inbound", "answered")
    assert (row.started_at, row.answered_at, row.ended_at) == (
        RECORD.started_at,
        RECORD.answered_at,
        RECORD.ended_at,
    )
    assert (row.caller_number, row.caller_name, row.called_number) == (
        "02079460001",
        "ARCHER A",
        "+442079460500",
    )
    assert row.external_e164 == "+442079460001"
    assert (row.did, row.trunk, row.queue) == ("+442079460500", "PJSIP/trunk-sip", "support")
    assert (row.wait_seconds, row.talk_seconds, row.hold_seconds) == (14.0, 180.0, 6.0)
    assert row.duration_seconds == 200.0
    assert row.agents_rung == ["PJSIP/1001", "PJSIP/1002"]
    assert (row.answered_by, row.disposition) == ("PJSIP/1002", "callback")
    assert row.notes == "Wants a callback on Friday."
    assert row.flags == ["recorded", "transferred"]
    assert [tuple(match) for match in matched] == [
        ("builtin", "contact", "1"),
        ("salesforce", "Contact", "003xx"),
    ]


async def test_log_call_twice_writes_once_and_returns_the_same_id(
    crm: BuiltinCrm, db: Engine
) -> None:
    calls_before = count(db, calls)
    first = await crm.log_call(RECORD)
    changed = dataclasses.replace(RECORD, notes="a retry must not overwrite", matches=())
    second = await crm.log_call(changed)

    assert first == second
    assert count(db, calls) == calls_before + 1
    assert count(db, call_matches, call_matches.c.call_pk == int(first)) == 2
    with db.connect() as conn:
        notes = conn.execute(select(calls.c.notes).where(calls.c.id == int(first))).scalar_one()
    assert notes == "Wants a callback on Friday."


async def test_concurrent_retries_of_one_call_write_one_row(crm: BuiltinCrm, db: Engine) -> None:
    keys = await asyncio.gather(*(crm.log_call(RECORD) for _ in range(12)))
    assert len(set(keys)) == 1
    assert count(db, calls, calls.c.call_id == RECORD.call_id) == 1


async def test_a_logged_call_leads_the_history(crm: BuiltinCrm) -> None:
    await crm.log_call(RECORD)
    history = await crm.history("+44 20 7946 0001")
    assert history[0].call_id == RECORD.call_id
    assert history[0].duration_seconds == 200.0
    match = (await crm.lookup("+442079460001")).single
    assert match is not None
    assert match.history[0].call_id == RECORD.call_id


async def test_outbound_and_internal_calls(crm: BuiltinCrm, db: Engine) -> None:
    outbound = dataclasses.replace(
        RECORD,
        call_id="pbx1:out",
        direction=Direction.OUTBOUND,
        caller_number="1002",
        called_number="+1 202 555 0102",
        matches=(),
    )
    internal = dataclasses.replace(
        RECORD,
        call_id="pbx1:int",
        direction=Direction.INTERNAL,
        caller_number="1001",
        called_number="1002",
        matches=(),
    )
    await crm.log_call(outbound)
    await crm.log_call(internal)
    with db.connect() as conn:
        rows = conn.execute(
            select(calls.c.call_id, calls.c.external_e164).where(calls.c.call_id.like("pbx1:%"))
        )
        far = {row.call_id: row.external_e164 for row in rows}
    assert far == {"pbx1:out": "+12025550102", "pbx1:int": None}
    assert [entry.call_id for entry in await crm.history("+12025550102")] == ["pbx1:out"]


async def test_hostile_text_is_stored_cleaned_and_cut(crm: BuiltinCrm, db: Engine) -> None:
    hostile = dataclasses.replace(
        RECORD,
        call_id="pbx1:hostile",
        caller_number="' OR 1=1 --\x00" * 20,
        caller_name="<script>alert(1)</script>\x00\ud800" + "x" * 10_000,
        notes="line one\x00line two " + "n" * 100_000,
        agents_rung=("PJSIP/1001\x00",),
        disposition="%_\\",
        matches=(CrmMatch("builtin", "contact", "1"), CrmMatch("builtin", "contact", "1")),
    )
    key = await crm.log_call(hostile)
    assert await crm.log_call(hostile) == key
    with db.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.id == int(key))).one()
    assert "\x00" not in row.caller_number
    assert len(row.caller_number) == 64
    assert row.caller_name.startswith("<script>alert(1)</script>?x")
    assert len(row.caller_name) == 255
    assert row.notes.startswith("line oneline two nnn")
    assert len(row.notes) == 100_017
    assert row.agents_rung == ["PJSIP/1001"]
    assert row.disposition == "%_\\"
    assert row.external_e164 is None


async def test_log_call_refuses_what_it_cannot_store_faithfully(crm: BuiltinCrm) -> None:
    with pytest.raises(ValidationFailed):
        await crm.log_call(dataclasses.replace(RECORD, call_id="x" * 256))
    with pytest.raises(ValidationFailed):
        await crm.log_call(dataclasses.replace(RECORD, call_id=""))
    with pytest.raises(ValidationFailed):
        await crm.log_call(dataclasses.replace(RECORD, started_at=START.replace(tzinfo=None)))


async def test_log_calls_stores_a_batch_in_one_transaction_of_fixed_statements(
    crm: BuiltinCrm, db: Engine
) -> None:
    """Issue 20: the outbox hands the built-in CRM every record it claimed at once. A batch of
    new calls, one logged before and one repeated within the batch, takes one transaction and
    the same statements as a single call, plus one read for the calls already stored."""
    first = await crm.log_call(RECORD)
    calls_before, matches_before = count(db, calls), count(db, call_matches)
    fresh = [dataclasses.replace(RECORD, call_id=f"pbx1:1763717400.{n}") for n in range(20)]
    statements: list[str] = []

    def seen(conn: object, cursor: object, sql: str, *args: object) -> None:
        statements.append(" ".join(sql.split()[:3]))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        keys = await crm.log_calls([RECORD, *fresh, fresh[3]])
    finally:
        event.remove(Engine, "before_cursor_execute", seen)

    assert keys[0] == first
    assert keys[-1] == keys[4]
    assert len(set(keys)) == 21
    assert count(db, calls) == calls_before + 20
    assert count(db, call_matches) == matches_before + 2 * 20  # none added to the repeated one
    with db.connect() as conn:
        stored = conn.execute(select(calls.c.call_id, calls.c.id)).all()
    assert {str(pk) for call_id, pk in stored if call_id.startswith("pbx1:")} >= set(keys)
    kinds = [s for s in statements if not s.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    assert kinds == [
        "INSERT INTO crm_calls",
        "SELECT crm_calls.call_id, crm_calls.id",
        "INSERT INTO crm_call_matches",
    ], statements


async def test_log_calls_is_all_or_nothing(crm: BuiltinCrm, db: Engine) -> None:
    """One record the CRM refuses stores none of its batch: the outbox then tries each alone."""
    calls_before = count(db, calls)
    good = dataclasses.replace(RECORD, call_id="pbx1:good")
    naive = dataclasses.replace(RECORD, call_id="pbx1:naive", started_at=START.replace(tzinfo=None))
    with pytest.raises(ValidationFailed):
        await crm.log_calls([good, naive])
    assert count(db, calls) == calls_before
    assert await crm.log_calls([]) == []


async def test_link_number_is_idempotent(crm: BuiltinCrm, db: Engine) -> None:
    grace = await contact_ref(crm, "+1 202 555 0102")
    await crm.link_number("+44 7700 900123", grace)
    await crm.link_number("07700 900123", grace)

    assert count(db, contact_phones, contact_phones.c.contact_id == int(grace.record_id)) == 2
    match = (await crm.lookup("07700900123")).single
    assert match is not None
    assert match.contact is not None
    assert match.contact.phones == ("+12025550102", "+447700900123")


async def test_link_number_to_a_second_contact_shares_the_number(crm: BuiltinCrm) -> None:
    dan = await contact_ref(crm, "+44 20 7946 0101")
    await crm.link_number("+44 20 7946 0102", dan)  # Erin's number
    result = await crm.lookup("+44 20 7946 0102")
    assert result.match_count is MatchCount.SEVERAL


@pytest.mark.parametrize("number", ["", "anonymous", "' OR 1=1 --", "123"])
async def test_link_number_refuses_junk(crm: BuiltinCrm, number: str) -> None:
    dan = await contact_ref(crm, "+44 20 7946 0101")
    with pytest.raises(ValidationFailed):
        await crm.link_number(number, dan)


@pytest.mark.parametrize("record_id", ["999999", "1 OR 1=1", "-1", "9" * 40])
async def test_link_number_to_a_missing_contact(crm: BuiltinCrm, record_id: str) -> None:
    with pytest.raises(NotFound):
        await crm.link_number("+442079460999", RecordRef("builtin", "contact", record_id))


async def test_create_contact_with_phones_and_account(crm: BuiltinCrm, db: Engine) -> None:
    globex = (await crm.lookup("+44 20 7946 0000")).single
    assert globex is not None
    created = await crm.create_contact(
        NewContact(
            " Judy ",
            "Jones",
            phones=("020 7946 0777", "+44 20 7946 0777", "+1 202 555 0177"),
            email="judy@globex.example",
            title="Buyer",
            account=globex.ref,
        )
    )

    assert created.display_name == "Judy Jones"
    assert created.phones == ("+442079460777", "+12025550177")
    assert created.account is not None
    assert created.account.name == "Globex Corporation"
    match = (await crm.lookup("+12025550177")).single
    assert match is not None
    assert match.contact == created


async def test_create_contact_refuses_bad_numbers_and_missing_accounts(
    crm: BuiltinCrm, db: Engine
) -> None:
    before = count(db, contacts)
    with pytest.raises(ValidationFailed):
        await crm.create_contact(NewContact("Bad", "Number", phones=("+44 20 7946 0777", "nope")))
    with pytest.raises(NotFound):
        await crm.create_contact(
            NewContact("No", "Account", account=RecordRef("builtin", "account", "424242"))
        )
    with pytest.raises(ValidationFailed):
        await crm.create_contact(
            NewContact("Wrong", "Kind", account=RecordRef("builtin", "contact", "1"))
        )
    assert count(db, contacts) == before


async def test_create_contact_with_only_a_number_is_shown_by_it(crm: BuiltinCrm) -> None:
    created = await crm.create_contact(NewContact("", "Smith", phones=("+44 20 7946 0888",)))
    assert created.display_name == "Smith"
    assert created.account is None
