"""Write-back: a finished call becomes one call Task however often it is logged; links; contacts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crm_connectors.base import NewContact, RecordRef
from crm_connectors.salesforce import SalesforceCrm
from cti.core.records import CallRecord, CrmMatch, Direction, Outcome
from cti.errors import CrmError, NotFound, ValidationFailed
from tests.salesforce.conftest import Seed
from tests.salesforce.fake_salesforce import FakeSalesforce

STARTED = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
FIELD = "CTI_Call_Id__c"


def _call(seed: Seed, **changes: object) -> CallRecord:
    record = CallRecord(
        call_id="pbx1:1763681400.42",
        server="pbx1",
        direction=Direction.INBOUND,
        outcome=Outcome.ANSWERED,
        started_at=STARTED,
        answered_at=STARTED + timedelta(seconds=12),
        ended_at=STARTED + timedelta(seconds=200),
        caller_number="020 7946 0958",
        called_number="+442079461000",
        talk_seconds=187.6,
        answered_by="alice",
        notes="Wants a callback about the invoice.",
        disposition="Callback requested",
        matches=(
            CrmMatch("salesforce", "Contact", seed.jane),
            CrmMatch("salesforce", "Account", seed.acme),
            CrmMatch("builtin", "contact", "17"),
        ),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


async def test_log_call_creates_one_task_with_the_call_fields(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(agent_users={"alice": seed.agent_user}, activity_timezone="Asia/Tokyo")

    task_id = await crm.log_call(_call(seed))

    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Subject"] == "Inbound call from +442079460958 (answered)"
    assert task["TaskSubtype"] == "Call"
    assert task["CallType"] == "Inbound"
    assert task["CallDurationInSeconds"] == 188
    assert task["CallDisposition"] == "Callback requested"
    assert task["CallObject"] == "pbx1:1763681400.42"
    assert task["Description"] == "Wants a callback about the invoice."
    assert task["Status"] == "Completed"
    assert task["ActivityDate"] == "2026-11-21"  # the date in Tokyo when the call started
    assert task["WhoId"] == seed.jane
    assert task["WhatId"] == seed.acme
    assert task["OwnerId"] == seed.agent_user
    assert len(fake.org.tasks()) == 5  # four seeded, one new


async def test_log_call_twice_without_an_external_id_queries_before_inserting(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    record = _call(seed, call_id="pbx1:1763681400.42'x")

    first = await crm.log_call(record)
    second = await crm.log_call(record)

    assert first == second
    assert [t["Id"] for t in fake.org.tasks() if t.get("CallObject") == record.call_id] == [first]
    assert (
        fake.soql == ["SELECT Id FROM Task WHERE CallObject = 'pbx1:1763681400.42\\'x' LIMIT 1"] * 2
    )
    posts = [r for r in fake.rest_requests() if r.method == "POST"]
    assert len(posts) == 1


async def test_log_call_twice_with_an_external_id_upserts(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    fake.org.add_external_id("Task", FIELD)
    crm = connect(call_id_field=FIELD)
    record = _call(seed, call_id="pbx1:1763681400.42/7")

    first = await crm.log_call(record)
    second = await crm.log_call(record)

    assert first == second
    tasks = [t for t in fake.org.tasks() if t.get(FIELD) == record.call_id]
    assert [t["Id"] for t in tasks] == [first]
    patches = [r for r in fake.rest_requests() if r.method == "PATCH"]
    assert [r.path for r in patches] == [
        f"/services/data/v59.0/sobjects/Task/{FIELD}/pbx1%3A1763681400.42%2F7"
    ] * 2
    assert fake.soql == []  # no query-before-insert on this path


async def test_a_missing_external_id_field_is_a_setup_error(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(call_id_field=FIELD)  # the admin has not created the field

    with pytest.raises(CrmError, match="no External ID field CTI_Call_Id__c") as failed:
        await crm.log_call(_call(seed))
    assert type(failed.value) is CrmError


async def test_an_unmapped_agent_leaves_the_owner_to_salesforce(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(agent_users={"bob": seed.agent_user})

    task_id = await crm.log_call(_call(seed))

    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert "OwnerId" not in task


async def test_a_lead_call_has_no_what_id(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    record = _call(
        seed,
        matches=(
            CrmMatch("salesforce", "Lead", seed.lead),
            CrmMatch("salesforce", "Account", seed.acme),
        ),
        direction=Direction.OUTBOUND,
        outcome=Outcome.BUSY,
        talk_seconds=0.0,
        disposition=None,
        called_number="07700 900456",
    )

    task_id = await crm.log_call(record)

    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["WhoId"] == seed.lead
    assert "WhatId" not in task
    assert task["Subject"] == "Outbound call to +447700900456 (busy)"
    assert task["CallType"] == "Outbound"
    assert "CallDisposition" not in task


async def test_a_call_the_lookup_missed_is_related_to_the_caller_when_logged(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    # The pop's lookup failed (Salesforce was down): the record holds no match of this org.
    unmatched = _call(seed, matches=(CrmMatch("builtin", "contact", "17"),))
    task_id = await crm.log_call(unmatched)

    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["WhoId"] == seed.jane and "WhatId" not in task
    assert len(fake.sosl) == 1 and len(fake.soql) == 1  # the search, the query for the Task


async def test_an_unknown_or_internal_call_is_logged_unrelated(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    unknown = _call(seed, call_id="pbx1:1.1", caller_number="+442079469999", matches=())
    internal = _call(
        seed, call_id="pbx1:1.2", direction=Direction.INTERNAL, caller_number="201", matches=()
    )
    for record in (unknown, internal):
        task_id = await crm.log_call(record)
        (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
        assert "WhoId" not in task and "WhatId" not in task
    assert len(fake.sosl) == 1  # the unknown number was searched; an internal call has no caller


async def test_a_logged_call_shows_in_history(crm: SalesforceCrm, seed: Seed) -> None:
    await crm.log_call(_call(seed, matches=(CrmMatch("salesforce", "Contact", seed.john),)))

    history = await crm.history(RecordRef("salesforce", "Contact", seed.john))
    assert [(h.call_id, h.outcome, h.duration_seconds) for h in history] == [
        ("pbx1:1763681400.42", Outcome.ANSWERED, 188.0)
    ]
    by_number = await crm.history("+447700900123")
    assert [h.call_id for h in by_number] == ["pbx1:1763681400.42"]
    assert await crm.history(RecordRef("builtin", "contact", "17")) == []


async def test_logging_a_call_refreshes_the_cached_lookup(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    before = await crm.lookup("+442079460958")
    await crm.log_call(_call(seed))
    after = await crm.lookup("+442079460958")

    assert before.single is not None
    assert after.single is not None
    assert after.single.history[0].call_id == "pbx1:1763681400.42"
    assert len(fake.sosl) == 2


async def test_link_number_fills_the_first_free_phone_field_once(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    john = RecordRef("salesforce", "Contact", seed.john)

    await crm.link_number("020 7946 0555", john)
    await crm.link_number("+442079460555", john)

    record = fake.org.records["Contact"][seed.john]
    assert record["Phone"] == "+442079460555"
    assert [r.method for r in fake.rest_requests()].count("PATCH") == 1
    result = await crm.lookup("+442079460555")
    assert result.single is not None
    assert result.single.ref.record_id == seed.john


async def test_link_number_refuses_junk_and_unknown_records(crm: SalesforceCrm, seed: Seed) -> None:
    with pytest.raises(ValidationFailed):
        await crm.link_number("x} OR {y", RecordRef("salesforce", "Contact", seed.john))
    with pytest.raises(ValidationFailed):
        await crm.link_number("+442079460555", RecordRef("salesforce", "Account", seed.acme))
    with pytest.raises(NotFound):
        await crm.link_number(
            "+442079460555", RecordRef("salesforce", "Contact", "003' OR Id != '")
        )
    with pytest.raises(NotFound):
        await crm.link_number(
            "+442079460555", RecordRef("salesforce", "Contact", "003000000000999AAA")
        )


async def test_create_contact(crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce) -> None:
    new = NewContact(
        first_name="Nia",
        last_name="New",
        phones=("020 7946 0777", "+44 7700 900777"),
        email="nia@example.com",  # a deliverable-looking domain: writes check e-mail syntax
        account=RecordRef("salesforce", "Account", seed.acme),
    )

    contact = await crm.create_contact(new)

    assert contact.display_name == "Nia New"
    assert contact.phones == ("+442079460777", "+447700900777")
    assert contact.account is not None
    assert contact.account.name == "Acme Ltd"
    stored = fake.org.records["Contact"][contact.ref.record_id]
    assert (stored["Phone"], stored["MobilePhone"], stored["AccountId"]) == (
        "+442079460777",
        "+447700900777",
        seed.acme,
    )
    found = await crm.lookup("+447700900777")
    assert found.single is not None
    assert found.single.ref == contact.ref
