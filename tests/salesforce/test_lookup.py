"""Caller-ID lookups against the fake org: number forms, matches, cases, history, injection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from crm_connectors.base import LookupOptions, MatchCount, MatchKind
from crm_connectors.salesforce import SalesforceCrm
from cti.core.records import Direction, Outcome
from tests.salesforce.conftest import INSTANCE, Seed
from tests.salesforce.fake_salesforce import FakeSalesforce


async def test_finds_a_contact_by_e164_when_the_org_stores_the_national_form(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    result = await crm.lookup("+442079460958")

    assert result.e164 == "+442079460958"
    assert result.match_count is MatchCount.ONE
    match = result.single
    assert match is not None
    assert match.contact is not None
    assert match.kind is MatchKind.CONTACT
    assert match.contact.display_name == "Jane Doe"
    assert match.contact.phones == ("+442079460958", "+447700900999")
    assert match.contact.email == "jane@acme.test"
    assert match.contact.ref.url == f"{INSTANCE}/lightning/r/Contact/{seed.jane}/view"
    assert match.account is not None
    assert match.account.name == "Acme Ltd"
    assert match.account.phone == "+442079460000"
    assert match.account.ref.url == f"{INSTANCE}/lightning/r/Account/{seed.acme}/view"
    # Every stored form, OR-ed, reserved characters escaped (Salesforce holds typed-in text).
    assert fake.sosl[0].startswith(
        'FIND {"\\+442079460958" OR "020 7946 0958" OR "\\+44 20 7946 0958" OR "02079460958"} '
        "IN PHONE FIELDS RETURNING Contact("
    )


async def test_a_national_caller_id_is_read_in_the_default_region(
    crm: SalesforceCrm, seed: Seed
) -> None:
    result = await crm.lookup("07700 900123")

    assert result.e164 == "+447700900123"
    assert result.number == "07700 900123"
    assert result.single is not None
    assert result.single.display_name == "John Roe"


async def test_two_contacts_with_the_number_in_different_formats(
    crm: SalesforceCrm, seed: Seed
) -> None:
    result = await crm.lookup("+442079460123")

    assert result.match_count is MatchCount.SEVERAL
    assert {m.ref.record_id for m in result.matches} == {seed.twin_a, seed.twin_b}
    twin_b = next(m for m in result.matches if m.ref.record_id == seed.twin_b)
    assert twin_b.account is None


async def test_no_match_asks_nothing_more(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    result = await crm.lookup("+442079469999")

    assert result.match_count is MatchCount.NONE
    assert result.e164 == "+442079469999"
    assert len(fake.sosl) == 1
    assert fake.soql == []


async def test_open_cases_and_call_history_are_mapped(crm: SalesforceCrm, seed: Seed) -> None:
    result = await crm.lookup("+442079460958")

    match = result.single
    assert match is not None
    assert [c.number for c in match.open_cases] == ["00001002", "00001001"]  # newest first
    working = match.open_cases[0]
    assert (working.subject, working.status, working.origin) == (
        "Invoice query",
        "Working",
        "Email",
    )
    assert working.owner_name == "Alice Agent"
    assert working.opened_at == datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    assert working.ref.url == f"{INSTANCE}/lightning/r/Case/{seed.case_working}/view"

    assert [h.call_id for h in match.history] == [
        "pbx1:1700000014.1",
        "pbx1:1700000012.1",
        "pbx1:1700000010.1",
    ]  # calls only (the email Task is left out), newest first
    missed, busy, answered = match.history
    assert (missed.direction, missed.outcome) == (Direction.INBOUND, Outcome.MISSED)
    assert (busy.direction, busy.outcome) == (Direction.OUTBOUND, Outcome.BUSY)
    assert busy.called_number == "+442079460958"
    assert answered.caller_number == "+442079460958"
    assert answered.duration_seconds == 120
    assert answered.disposition == "Resolved"
    assert answered.agent == "Alice Agent"
    assert answered.notes == "notes 10"
    assert answered.started_at == datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


async def test_lookup_options_bound_cases_and_history(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    result = await crm.lookup("+442079460958", LookupOptions(max_history=1, max_open_cases=0))

    match = result.single
    assert match is not None
    assert match.open_cases == ()
    assert [h.call_id for h in match.history] == ["pbx1:1700000014.1"]
    assert len(fake.soql) == 1
    assert fake.soql[0].endswith("LIMIT 1")


async def test_a_lead_matches_and_a_converted_lead_does_not(crm: SalesforceCrm, seed: Seed) -> None:
    result = await crm.lookup("+447700900456")

    match = result.single
    assert match is not None
    assert match.contact is not None
    assert match.kind is MatchKind.LEAD
    assert match.ref.record_id == seed.lead
    assert match.contact.display_name == "Lee Lead (Initech)"
    assert match.open_cases == ()  # leads have no cases


async def test_the_switchboard_number_matches_the_account(crm: SalesforceCrm, seed: Seed) -> None:
    result = await crm.lookup("020 7946 0000")

    match = result.single
    assert match is not None
    assert match.kind is MatchKind.ACCOUNT
    assert match.account is not None
    assert match.account.name == "Acme Ltd"
    assert {c.ref.record_id for c in match.open_cases} == {seed.case_new, seed.case_working}
    assert len(match.history) == 3  # Jane's calls belong to Acme through her


async def test_lookup_objects_limit_what_is_searched(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(lookup_objects=("Contact",))

    assert (await crm.lookup("+447700900456")).match_count is MatchCount.NONE
    assert "Lead(" not in fake.sosl[0]
    assert "Account(" not in fake.sosl[0]


@pytest.mark.parametrize(
    "caller_id",
    [
        "x} OR {y",
        '"*"',
        "\\",
        '+44 20 7946 0958"} IN ALL FIELDS RETURNING User(Id, Username)',
        "020 7946 0958' OR Name LIKE '%",
        "*",
        "<unknown>",
        "",
    ],
)
async def test_a_hostile_caller_id_matches_nobody_and_sends_nothing(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce, caller_id: str
) -> None:
    result = await crm.lookup(caller_id)

    assert result.e164 is None
    assert result.match_count is MatchCount.NONE
    assert fake.rest_requests() == []  # only digits and + survive: nothing to search for


async def test_reserved_characters_of_a_real_number_are_escaped(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    fake.org.add("Contact", FirstName="Us", LastName="Caller", Phone="(201) 555-0123")

    result = await crm.lookup("+1 (201) 555-0123")

    assert result.single is not None
    assert result.single.display_name == "Us Caller"
    assert '"\\(201\\) 555\\-0123"' in fake.sosl[0]
    assert '"\\+1 201\\-555\\-0123"' in fake.sosl[0]
