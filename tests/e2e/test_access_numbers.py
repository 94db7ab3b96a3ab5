"""Access numbers on the lab: the API reserves a DID, SIPp calls it from the customer's number,
the rung agent's pop carries what the app sent, the built-in CRM's record names the
interaction; a call after the reservation expired pops plainly, marked "no reservation"; two
callers holding one shared number each reach their own reservation, whoever calls first."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cti.access_numbers.service import AccessNumbers
from cti.access_numbers.values import AccessNumber, PoolSpec
from cti.store import GroupSpec, Store
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.test_pipeline import Phones, ended, pop_of

pytestmark = pytest.mark.e2e

CUSTOMER = "+442079460001"  # Alice Archer in the demo CRM


class Shifted:
    """The test's own clock for the store it writes through (to age a reservation)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = DaemonProcess(lab, tmp_path_factory.mktemp("daemon"))
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


def crm_flags(daemon: DaemonProcess, call_id: str) -> list[str] | None:
    engine = create_engine(daemon.store_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT flags FROM crm_calls WHERE call_id = :id"), {"id": call_id}
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return None
    flags = row[0]
    return list(flags if isinstance(flags, list) else __import__("json").loads(flags))


def outbox_payload(daemon: DaemonProcess, call_id: str) -> dict[str, Any]:
    """The call record as the outbox holds it for the CRM connectors."""
    engine = create_engine(daemon.store_url)
    try:
        with engine.connect() as conn:
            raw = conn.execute(
                text("SELECT payload FROM outbox WHERE call_id = :id"), {"id": call_id}
            ).scalar_one()
    finally:
        engine.dispose()
    return dict(raw if isinstance(raw, dict) else json.loads(raw))


async def record_flags(daemon: DaemonProcess, call_id: str) -> list[str]:
    for _ in range(100):
        flags = await asyncio.to_thread(crm_flags, daemon, call_id)
        if flags is not None:
            return flags
        await asyncio.sleep(0.1)
    raise AssertionError(f"no CRM record of {call_id}")


async def test_a_reserved_number_called_from_the_app_pops_with_its_context(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    did = direct_did("1001")
    clock = Shifted()
    store = Store(daemon.store_url, clock=clock)
    admin = AccessNumbers(store, default_region="GB", clock=clock)
    store.create_group(GroupSpec(name="App", dids=(did,)))  # pools take DIDs the DID map routes
    await admin.create_pool(
        PoolSpec(name="app", numbers=(AccessNumber(did, "+" + did),), hold_seconds=30), "admin"
    )
    _, key = await admin.issue_key("shop", ["app"], 60, "admin")
    await asyncio.sleep(1.5)  # the daemon's index refreshes every second
    got = phones("1001")
    got["1001"].set_answer_policy(AutoAnswer(0.5))
    auth = {"authorization": f"Bearer {key}"}
    body = {
        "customer": {"phone": CUSTOMER},
        "caller_number": CUSTOMER,
        "context": {"who": "Alice <b>Archer</b>", "intent": "refund", "order": "A-1042"},
    }
    async with httpx.AsyncClient(base_url=daemon.origin) as http:
        made = await http.post("/api/v1/interactions", json=body, headers=auth)
        assert made.status_code == 201, made.text
        reserved = made.json()
        assert reserved["number"]["e164"] == "+" + did
        async with agent(daemon, "alice") as alice:
            call = inbound_call(lab.sip, did, CUSTOMER, "Alice Archer", hold_s=1.0)
            sipp_calls.append(call)
            await alice.wait_for(lambda m: m["type"] == "pop", within=15)
            pop = pop_of(alice)
            card = pop["card"]
            assert card["reservation"] == "matched"
            assert card["interaction"]["id"] == reserved["id"]
            assert card["interaction"]["intent"] == "refund"
            assert "A-1042" in pop["html"] and "refund" in pop["html"]
            assert "Alice &lt;b&gt;Archer&lt;/b&gt;" in pop["html"]  # escaped, not markup
            await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
            await ended(alice, pop["call_id"])
        flags = await record_flags(daemon, pop["call_id"])
        assert f"interaction:{reserved['id']}" in flags
        payload = await asyncio.to_thread(outbox_payload, daemon, pop["call_id"])
        assert payload["interaction"][:3] == [  # what the Salesforce Task's description names
            ["id", reserved["id"]],
            ["who", "Alice <b>Archer</b>"],
            ["intent", "refund"],
        ]
        after = await http.get(f"/api/v1/interactions/{reserved['id']}", headers=auth)
        assert after.json()["state"] == "matched"

        # A second reservation, left to expire: the call after it pops plainly.
        again = await http.post("/api/v1/interactions", json=body, headers=auth)
        assert again.status_code == 201, again.text
        clock.offset = timedelta(seconds=31)
        assert await admin.sweep() == 1
        await asyncio.sleep(1.5)
        async with agent(daemon, "alice") as alice:
            call = inbound_call(lab.sip, did, CUSTOMER, "Alice Archer", hold_s=0.5)
            sipp_calls.append(call)
            await alice.wait_for(lambda m: m["type"] == "pop", within=15)
            plain = pop_of(alice)
            assert plain["card"]["reservation"] == "none"
            assert plain["card"]["interaction"] is None
            assert "No reservation" in plain["html"]
            await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
    await admin.close()
    store.close()


async def test_two_callers_sharing_one_number_each_reach_their_own_reservation(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    did = direct_did("1002")
    store = Store(daemon.store_url)
    admin = AccessNumbers(store, default_region="GB")
    store.create_group(GroupSpec(name="Shared", dids=(did,)))
    one = (AccessNumber(did, "+" + did),)
    await admin.create_pool(PoolSpec(name="shared", numbers=one), "admin")
    _, key = await admin.issue_key("shop", ["shared"], 60, "admin")
    await asyncio.sleep(1.5)  # the daemon's index refreshes every second
    got = phones("1002")
    got["1002"].set_answer_policy(AutoAnswer(0.3))
    auth = {"authorization": f"Bearer {key}"}
    callers = {CUSTOMER: "refund", "+447700900123": "delivery"}
    async with httpx.AsyncClient(base_url=daemon.origin) as http:
        made = {}
        for number, intent in callers.items():
            body = {
                "customer": {"phone": number},
                "caller_number": number,
                "context": {"intent": intent},
            }
            answer = await http.post("/api/v1/interactions", json=body, headers=auth)
            assert answer.status_code == 201, answer.text
            made[number] = answer.json()
        assert {m["number"]["e164"] for m in made.values()} == {"+" + did}  # one number, shared
        for number in reversed(callers):  # the second reservation's caller calls first
            async with agent(daemon, "bob") as bob:
                call = inbound_call(lab.sip, did, number, "Caller", hold_s=0.5)
                sipp_calls.append(call)
                await bob.wait_for(lambda m: m["type"] == "pop", within=15)
                card = pop_of(bob)["card"]
                assert card["reservation"] == "matched"
                assert card["interaction"]["id"] == made[number]["id"]
                assert card["interaction"]["intent"] == callers[number]
                await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
        for number, reserved in made.items():
            after = await http.get(f"/api/v1/interactions/{reserved['id']}", headers=auth)
            assert after.json()["state"] == "matched", number
    await admin.close()
    store.close()
