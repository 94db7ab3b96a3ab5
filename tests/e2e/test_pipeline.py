"""The CTI pipeline end to end on the lab: SIPp carrier calls, pjsua2 phones, the real daemon
(`cti serve` in its own process), agents on websockets, records in the built-in CRM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_connectors.builtin import BuiltinCrm
from sip_tests.ami_relay import AmiCutter
from sip_tests.lab import DID_SALES, LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import AgentClient, DaemonProcess, agent

pytestmark = pytest.mark.e2e

ALICE_NUMBER = "+442079460001"  # demo contact Alice Archer, Globex Corporation
SHARED_NUMBER = "+442079460010"  # demo contacts Bob Baker and Carol Carter
UNKNOWN_NUMBER = "+442079469999"

Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = DaemonProcess(lab, tmp_path_factory.mktemp("daemon"))
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@pytest.fixture
async def crm(daemon: DaemonProcess) -> AsyncIterator[BuiltinCrm]:
    async with BuiltinCrm.from_url(daemon.store_url, default_region="GB") as connector:
        yield connector


def pop_of(client: AgentClient, call_id: str | None = None) -> dict[str, Any]:
    pops = [m for m in client.of_type("pop") if call_id in (None, m["data"]["call_id"])]
    assert pops, f"{client.username} got no pop: {[m['type'] for m in client.received]}"
    return pops[-1]["data"]


async def ended(client: AgentClient, call_id: str) -> None:
    await client.wait_for(
        lambda m: (
            m["type"] == "call_state"
            and m["data"]["call_id"] == call_id
            and m["data"]["state"] == "ended"
        ),
        within=20,
    )


async def records_for(
    crm: BuiltinCrm, number: str, call_id: str, within: float = 10.0
) -> list[Any]:
    """The CRM's history entries of ``call_id`` once the outbox delivered it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [h for h in await crm.history(number, limit=50) if h.call_id == call_id]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_call_pops_on_the_ringing_agent_only_and_is_recorded_once(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    sipp_calls: list[SippProcess],
) -> None:
    got = phones("1001", "1002")
    got["1001"].set_answer_policy(AutoAnswer(0.5))
    async with agent(daemon, "alice") as alice, agent(daemon, "bob") as bob:
        call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=1.0)
        sipp_calls.append(call)
        ringing = await asyncio.to_thread(got["1001"].wait_ringing, 10)
        message = await alice.wait_for(lambda m: m["type"] == "pop")
        pop = message["data"]
        html = pop["html"]
        assert "Alice Archer" in html and "Globex Corporation" in html
        assert "CS-1001" in html and "CS-1002" in html  # open cases
        assert "CS-1003" not in html  # a closed case
        assert "Recent calls" in html and 'class="history"' in html
        assert 'data-number="+442079460001"' in html  # click-to-dial
        # The pop is on alice's screen while her phone still rings: before the phone answered.
        # How soon after the INVITE is a figure, measured by `cti bench` (pop vs ring, p99
        # target 20 ms) and printed here; a timed assertion would only measure the machine.
        lag_ms = (message["received_at"] - ringing.invite_at) * 1000
        print(f"pop after INVITE: {lag_ms:.1f} ms")
        answered = await asyncio.to_thread(got["1001"].wait_state, ringing, "CONFIRMED", 5)
        assert message["received_at"] < answered.at, "the pop came after the call was answered"

        await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
        await ended(alice, pop["call_id"])
        assert not bob.of_type("pop"), "bob's phone never rang: he must get nothing"

    [record] = await records_for(crm, ALICE_NUMBER, pop["call_id"])
    assert record.outcome == "answered" and record.agent == "alice"


async def test_unknown_caller_and_a_number_two_contacts_share(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.2))
    async with agent(daemon, "alice") as alice:
        for number in (UNKNOWN_NUMBER, SHARED_NUMBER):
            call = inbound_call(lab.sip, direct_did("1001"), number, "", hold_s=0.5)
            sipp_calls.append(call)
            await alice.wait_for(
                lambda m, n=number: (
                    m["type"] == "pop" and m["data"]["card"]["call"]["caller_number"] == n
                )
            )
            await asyncio.to_thread(call.wait, 30)
            await asyncio.to_thread(lab.wait_idle, 10)
    unknown, shared = (m["data"] for m in alice.of_type("pop"))
    assert unknown["card"]["match_count"] == "none"
    assert "No record matches" in unknown["html"] and "Create contact" in unknown["html"]
    assert shared["card"]["match_count"] == "several"
    assert "Bob Baker" in shared["html"] and "Carol Carter" in shared["html"]


async def test_ringall_queue_second_agent_answers(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    sipp_calls: list[SippProcess],
) -> None:
    got = phones("1001", "1002")
    got["1002"].set_answer_policy(AutoAnswer(1.0))
    async with agent(daemon, "alice") as alice, agent(daemon, "bob") as bob:
        call = inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Alice Archer", hold_s=1.0)
        sipp_calls.append(call)
        await alice.wait_for(lambda m: m["type"] == "pop")
        await bob.wait_for(lambda m: m["type"] == "pop")
        dismissed = await alice.wait_for(lambda m: m["type"] == "pop_dismissed")
        assert dismissed["data"]["reason"] == "answered_elsewhere"
        call_id = pop_of(bob)["call_id"]
        await ended(bob, call_id)
        assert pop_of(alice)["call_id"] == call_id

    [record] = await records_for(crm, ALICE_NUMBER, call_id)
    assert record.outcome == "answered" and record.agent == "bob"
    assert 0.8 < record.duration_seconds < 5  # rang ~1 s, talked 1 s


async def test_notes_and_disposition_reach_the_record_and_the_next_pop(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.2))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=3.0)
        sipp_calls.append(call)
        call_id = (await alice.wait_for(lambda m: m["type"] == "pop"))["data"]["call_id"]
        await alice.send(
            "notes", {"call_id": call_id, "text": "Asked about invoice 4471 <b>twice</b>"}
        )
        await alice.send("disposition", {"call_id": call_id, "value": "Follow-up"})
        await alice.wait_for(lambda m: m["type"] == "disposition_saved")
        await ended(alice, call_id)

        [record] = await records_for(crm, ALICE_NUMBER, call_id)
        assert record.notes == "Asked about invoice 4471 <b>twice</b>"
        assert record.disposition == "Follow-up"
        assert record.outcome == "answered" and 2.5 < record.duration_seconds < 6

        await asyncio.to_thread(lab.wait_idle, 10)
        again = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(again)
        next_pop = await alice.wait_for(
            lambda m: (
                m["type"] in ("pop", "pop_update")
                and m["data"]["call_id"] != call_id
                and "invoice 4471" in m["data"]["html"]
            )
        )
        assert "&lt;b&gt;twice&lt;/b&gt;" in next_pop["data"]["html"]  # notes shown as text
        assert "Follow-up" in next_pop["data"]["html"]
        # The second call ends by itself (SIPp hangs up 0.5 s after the answer): wait for it, so
        # that SIPp is not stopped mid-call by the fixtures, leaving the call up on the lab.
        await asyncio.to_thread(again.wait, 20)
        await asyncio.to_thread(lab.wait_idle, 15)


async def test_caller_abandons_in_the_queue(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001", "1002")
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Alice Archer", answer_timeout_s=2.0)
        sipp_calls.append(call)
        call_id = (await alice.wait_for(lambda m: m["type"] == "pop"))["data"]["call_id"]
        dismissed = await alice.wait_for(lambda m: m["type"] == "pop_dismissed", within=15)
        assert dismissed["data"]["reason"] == "abandoned"
    [record] = await records_for(crm, ALICE_NUMBER, call_id)
    assert record.outcome == "abandoned" and record.agent is None


async def test_blind_transfer_moves_the_pop_and_notes(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    sipp_calls: list[SippProcess],
) -> None:
    got = phones("1001", "1002")
    got["1001"].set_answer_policy(AutoAnswer(0.2))
    got["1002"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice, agent(daemon, "bob") as bob:
        call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=4.0)
        sipp_calls.append(call)
        ringing = await asyncio.to_thread(got["1001"].wait_ringing, 10)
        call_id = (await alice.wait_for(lambda m: m["type"] == "pop"))["data"]["call_id"]
        await alice.send("notes", {"call_id": call_id, "text": "Wants the blue one"})
        await alice.wait_for(lambda m: m["type"] == "notes_saved")
        await asyncio.to_thread(got["1001"].wait_state, ringing, "CONFIRMED", 5)
        await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001")
        await asyncio.to_thread(got["1001"].blind_transfer, ringing, "1002")

        moved = await bob.wait_for(
            lambda m: (
                m["type"] == "pop_update" and m["data"]["card"].get("notes") == "Wants the blue one"
            )
        )
        assert moved["data"]["call_id"] == call_id
        transferred = await alice.wait_for(
            lambda m: m["type"] == "call_state" and m["data"]["state"] == "transferred"
        )
        assert transferred["data"]["detail"]["to"] == "PJSIP/1002"
        await ended(bob, call_id)
    [record] = await records_for(crm, ALICE_NUMBER, call_id)
    assert record.agent == "bob" and record.notes == "Wants the blue one"


async def test_hostile_caller_name_is_escaped_in_the_pop_and_stored_verbatim(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    name = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.2))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), UNKNOWN_NUMBER, name, hold_s=0.5)
        sipp_calls.append(call)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop"))["data"]
        assert pop["card"]["call"]["caller_name"] == name  # the data carries it verbatim
        assert "<script>" not in pop["html"] and "<img" not in pop["html"]
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in pop["html"]
        )
        await ended(alice, pop["call_id"])


async def test_ami_cut_mid_call_keeps_the_call_and_writes_one_record(
    lab: LabHandle, phones: Phones, tmp_path: Path, sipp_calls: list[SippProcess]
) -> None:
    cutter = AmiCutter(lab.settings.ami_port)
    port = await cutter.start()
    proxied = DaemonProcess(lab, tmp_path)
    proxied.extra_env = {
        "CTI_SERVERS": proxied.env()["CTI_SERVERS"].replace(
            f'"port": {lab.settings.ami_port}', f'"port": {port}'
        )
    }
    assert proxied.cli("seed").returncode == 0
    await asyncio.to_thread(proxied.start)  # the relay runs on this loop: never block it
    try:
        phones("1001")["1001"].set_answer_policy(AutoAnswer(0.3))
        async with (
            agent(proxied, "alice") as alice,
            BuiltinCrm.from_url(proxied.store_url, default_region="GB") as crm,
        ):
            call = inbound_call(
                lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=4.0
            )
            sipp_calls.append(call)
            call_id = (await alice.wait_for(lambda m: m["type"] == "pop"))["data"]["call_id"]
            await alice.wait_for(lambda m: m["type"] == "call_state")  # answered
            cutter.cut()  # mid-call
            await asyncio.sleep(1.5)  # the daemon reconnects and resyncs
            assert cutter.connections >= 2
            await ended(alice, call_id)
            records = await records_for(crm, ALICE_NUMBER, call_id)
            await asyncio.sleep(1.0)  # a duplicate, if any, would land by now
            records = await records_for(crm, ALICE_NUMBER, call_id)
            assert len(records) == 1
            assert records[0].outcome == "answered" and records[0].agent == "alice"
            assert 3.0 < records[0].duration_seconds < 8
    finally:
        assert await asyncio.to_thread(proxied.stop) == 0, proxied.log_tail()
        await cutter.close()
