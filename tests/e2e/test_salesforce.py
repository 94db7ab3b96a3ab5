"""Salesforce end to end on the lab: a SIPp carrier call, a pjsua2 agent phone, the real daemon
(`cti serve`, configured by TOML with its only CRM a fake org over TLS on loopback), the agent's
websocket pop from Salesforce, and the call logged as exactly one Task."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crm_connectors.base import LookupOptions
from crm_connectors.salesforce import SalesforceSettings, Secret, SessionAuth
from crm_connectors.salesforce.queries import phone_search
from cti.numbers import to_e164
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call, sip_user
from tests.e2e.daemon import AgentClient, DaemonProcess, agent
from tests.e2e.salesforce_org import (
    ANN,
    INSTANCE,
    JANE,
    Org,
    log_messages,
    salesforce_daemon,
    seed_org,
)
from tests.salesforce.fake_salesforce import FakeSalesforce

pytestmark = pytest.mark.e2e

Phones = Callable[..., dict[str, Phone]]
CALL_ID_FIELD = "CTI_Call_Id__c"


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    with FakeSalesforce() as fake:
        yield seed_org(fake, call_id_field=CALL_ID_FIELD)


@pytest.fixture(scope="module")
def daemon(
    lab: LabHandle, org: Org, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    process = salesforce_daemon(
        lab, tmp_path_factory.mktemp("sf-daemon"), org, salesforce={"call_id_field": CALL_ID_FIELD}
    )
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


async def salesforce_pop(client: AgentClient, caller: str) -> dict[str, Any]:
    """The agent's pop (or its update) once the Salesforce lookup of ``caller`` is in it."""
    shown = to_e164(caller, "GB") or caller  # the pop shows a phone number in E.164
    message = await client.wait_for(
        lambda m: (
            m["type"] in ("pop", "pop_update")
            and m["data"]["card"]["call"]["caller_number"] == shown
            and m["data"]["card"]["lookup"] != "pending"
        )
    )
    return dict(message["data"])


async def ended(client: AgentClient, call_id: str) -> None:
    await client.wait_for(
        lambda m: (
            m["type"] == "call_state"
            and m["data"]["call_id"] == call_id
            and m["data"]["state"] == "ended"
        ),
        within=20,
    )


async def logged_tasks(org: Org, call_id: str, within: float = 15.0) -> list[dict[str, object]]:
    """The call's Tasks once the outbox delivered it, and a moment more for any duplicate."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if org.tasks_of(call_id):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # a second write, if the daemon made one, would be here by now
    return org.tasks_of(call_id)


async def test_a_call_pops_the_salesforce_contact_and_logs_one_task(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, org: Org, sipp_calls: list[SippProcess]
) -> None:
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), JANE, "Jane Doe", hold_s=3.0)
        sipp_calls.append(call)
        pop = await salesforce_pop(alice, JANE)
        call_id = pop["call_id"]
        card, html = pop["card"], pop["html"]
        assert card["lookup"] == "done" and card["match_count"] == "one"
        [match] = card["matches"]
        assert match["ref"] == f"salesforce:Contact:{org.jane}"
        assert (
            match["contact"]["name"] == "Jane Doe" and match["contact"]["email"] == "jane@acme.test"
        )
        assert match["account"] == {
            "name": "Acme Ltd",
            "phone": "+442079460000",
            "type": "Customer",
        }
        open_numbers = {org.case_number(case) for case in org.open_cases}
        assert {c["number"] for c in match["cases"]} == open_numbers
        assert [h["disposition"] for h in match["history"]] == ["Resolved"]
        url = f"{INSTANCE}/lightning/r/Contact/{org.jane}/view"
        assert match["url"] == url
        assert f'<a href="{url}" target="_blank"' in html  # "open in Salesforce"
        assert "Jane Doe" in html and "Acme Ltd" in html
        assert "Broken widget" in html and "Invoice query" in html and "Old thing" not in html

        await alice.send("notes", {"call_id": call_id, "text": 'Wants a "quote" & a callback'})
        await alice.send("disposition", {"call_id": call_id, "value": "Follow-up"})
        await alice.wait_for(lambda m: m["type"] == "disposition_saved")
        await ended(alice, call_id)

    [task] = await logged_tasks(org, call_id)
    assert org.calls_logged()[call_id] == 1
    assert task["CallObject"] == call_id and task[CALL_ID_FIELD] == call_id
    assert task["CallType"] == "Inbound" and task["TaskSubtype"] == "Call"
    assert task["Status"] == "Completed"
    assert task["Subject"] == f"Inbound call from {JANE} (answered)"
    assert isinstance(task["CallDurationInSeconds"], int)
    assert 2 <= task["CallDurationInSeconds"] <= 6  # talked 3 s
    assert task["CallDisposition"] == "Follow-up"
    assert task["Description"] == 'Wants a "quote" & a callback'
    assert task["WhoId"] == org.jane
    assert "WhatId" not in task  # only Jane matched; Salesforce relates the Task to her Account
    assert task["OwnerId"] == org.alice  # agent_users maps alice to her Salesforce user
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(task["ActivityDate"]))
    print(f"salesforce e2e: call {call_id} logged as Task {task['Id']}")


# Caller ids a carrier could deliver (%-escaped in the SIP URI, decoded by Asterisk).
HOSTILE = [
    '0161"496"0750',  # quotes
    "0161\\ 496 0750",  # a backslash, SOSL's escape character
    "{*} OR 0161*",  # braces, a wildcard and an OR: would match everybody
    "0161 496 075?",  # a one-character wildcard: would match the neighbours
    "\") OR Name LIKE '%",  # SOQL-ish
]
# Holds SOSL reserved characters ( ) - + yet is a phone number: it must find Ann and only her.
PUNCTUATED = "+44 (161) 496-0750"


def expected_search(e164: str) -> str:
    """The SOSL the daemon's connector (default settings) sends for a normalized number."""
    defaults = SalesforceSettings(auth=SessionAuth(Secret("unused"), INSTANCE))
    return phone_search(
        e164,
        objects=defaults.lookup_objects,
        contact_phones=defaults.contact_phone_fields,
        lead_phones=defaults.lead_phone_fields,
        limit=LookupOptions().max_matches,
    )


async def test_caller_ids_with_reserved_characters_neither_break_nor_widen_the_search(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, org: Org, sipp_calls: list[SippProcess]
) -> None:
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.2))
    fake = org.fake
    async with agent(daemon, "alice") as alice:
        for caller in [*HOSTILE, PUNCTUATED]:
            before = len(fake.sosl)
            soql_before = len(fake.soql)
            call = inbound_call(lab.sip, direct_did("1001"), sip_user(caller), "", hold_s=0.3)
            sipp_calls.append(call)
            pop = await salesforce_pop(alice, caller)
            await ended(alice, pop["call_id"])
            await asyncio.to_thread(call.wait, 20)
            await asyncio.to_thread(lab.wait_idle, 10)
            searches = fake.sosl[before:]
            card = pop["card"]
            assert card["lookup"] == "done", f"{caller!r}: the lookup failed"
            if caller in HOSTILE:
                # Not a phone number: it matches nobody and no request is made for it.
                assert card["match_count"] == "none", caller
                assert searches == [] and len(fake.soql) == soql_before, caller
                assert "No record matches" in pop["html"]
            else:
                # The one SOSL search is built from the normalized number only.
                assert searches == [expected_search(ANN)], searches
                assert [m["ref"] for m in card["matches"]] == [f"salesforce:Contact:{org.ann}"]
    assert not log_messages(daemon, "error")
    print(f"hostile caller ids: {len(HOSTILE)} made no request; the punctuated one: {searches}")
