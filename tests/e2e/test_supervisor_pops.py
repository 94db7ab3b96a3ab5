"""The supervisor console end to end on the lab: groups' published templates decide the pops
of real calls (SIPp carrier, pjsua2 phones, the real `cti serve`), the trigger moves the pop to
the answer, a template that fails on real data falls back and the supervisor is told at once,
and a supervisor of one group cannot touch another's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

from cti.store import Store
from sip_tests.lab import DID_SALES, DID_SUPPORT, LabHandle
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import DaemonProcess, agent

pytestmark = pytest.mark.e2e

ALICE_NUMBER = "+442079460001"  # demo contact Alice Archer, Globex Corporation
LAYOUT_A = '<section class="pop layout-a"><h2>A: {{ matches[0].name if matches else "?" }}</h2>'
LAYOUT_B = '<section class="pop layout-b"><h2>B: {{ call.caller_number }}</h2>'
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = DaemonProcess(lab, tmp_path_factory.mktemp("supervisor"))
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    store = Store(process.store_url)
    try:  # a second supervisor, who owns Support only
        store.create_agent(
            "sue", password="sue-demo", display_name="Sue Support", role="supervisor"
        )
        support = store.get_group("Support")
        assert support is not None
        store.update_group("Support", replace(support.spec, supervisors=("sam", "sue")))
    finally:
        store.close()
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@asynccontextmanager
async def console(daemon: DaemonProcess, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=daemon.origin, headers={"origin": daemon.origin}, timeout=30
    ) as client:
        reply = await client.post(
            "/login", json={"username": username, "password": f"{username}-demo"}
        )
        reply.raise_for_status()
        client.headers["x-cti-csrf"] = reply.json()["csrf"]
        yield client


async def publish(
    client: httpx.AsyncClient, group: str, source: str | None, **settings: object
) -> int:
    saved = await client.post(
        "/api/supervisor/versions",
        params={"group": group},
        json={"source": source, "settings": settings},
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["problems"] == []
    number = saved.json()["number"]
    live = await client.post(f"/api/supervisor/versions/{number}/publish", params={"group": group})
    assert live.status_code == 200, live.text
    return int(number)


async def test_each_group_pops_with_its_layout_and_answered_delays_the_pop(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    got = phones("1001", "1002", "1003", "1004", "1005")
    async with console(daemon, "sam") as sam:
        await publish(sam, "Sales", LAYOUT_A + "</section>")
        await publish(sam, "Support", LAYOUT_B + "</section>")

    # A call into Sales' DID pops A's layout on both ringing agents (ring-all).
    got["1001"].set_answer_policy(AutoAnswer(1.0))
    async with agent(daemon, "alice") as alice, agent(daemon, "bob") as bob:
        call = inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(call)
        for client in (alice, bob):
            pop = await client.wait_for(lambda m: m["type"] == "pop", within=15)
            assert 'class="pop layout-a"' in pop["data"]["html"]
            assert "A: Alice Archer" in pop["data"]["html"]
        await asyncio.to_thread(call.wait, 30)
    await asyncio.to_thread(lab.wait_idle, 15)

    # A call into Support's DID pops B's layout on the agent it rings (round robin).
    for extension in ("1003", "1004", "1005"):
        got[extension].set_answer_policy(AutoAnswer(0.5))
    async with (
        agent(daemon, "carol") as carol,
        agent(daemon, "dave") as dave,
        agent(daemon, "erin") as erin,
    ):
        call = inbound_call(lab.sip, DID_SUPPORT, ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(call)
        popped = await first_pop(carol, dave, erin)
        assert 'class="pop layout-b"' in popped["html"] and "B: +442079460001" in popped["html"]
        assert "layout-a" not in popped["html"]
        await asyncio.to_thread(call.wait, 30)
    await asyncio.to_thread(lab.wait_idle, 15)

    # Switch Sales to pop on answer: nothing while the phones ring, the pop once alice answers.
    async with console(daemon, "sam") as sam:
        await publish(sam, "Sales", LAYOUT_A + "</section>", trigger="answered")
    got["1001"].reset()
    got["1002"].reset()
    got["1001"].set_answer_policy(AutoAnswer(2.0))
    async with agent(daemon, "alice") as alice, agent(daemon, "bob") as bob:
        call = inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Alice Archer", hold_s=1.0)
        sipp_calls.append(call)
        ringing = await asyncio.to_thread(got["1001"].wait_ringing, 10)
        answered = await asyncio.to_thread(got["1001"].wait_state, ringing, "CONFIRMED", 10)
        pop = await alice.wait_for(lambda m: m["type"] == "pop", within=10)
        assert pop["received_at"] > answered.at - 0.05, "the pop came while the phone rang"
        assert pop["received_at"] - ringing.invite_at > 1.5  # the phone rang ~2 s first
        assert 'class="pop layout-a"' in pop["data"]["html"]
        assert pop["data"]["card"]["call"]["state"] == "answered"
        await asyncio.to_thread(call.wait, 30)
        await asyncio.sleep(0.5)
        assert not bob.of_type("pop"), "bob never answered: with trigger answered, no pop"


async def test_a_template_failing_on_real_data_falls_back_and_the_supervisor_sees_it(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    # Fine on the sample calls (so it can be published), an endless loop for this caller.
    runaway = (
        '<section class="pop layout-r">{% if call.caller_name == "Runaway Caller" %}'
        "{% for a in range(1000) %}{% for b in range(1000) %}{{ b }}{% endfor %}{% endfor %}"
        "{% endif %}</section>"
    )
    async with console(daemon, "sam") as sam:
        await publish(sam, "Sales", runaway)
    got = phones("1001", "1002")
    got["1001"].set_answer_policy(AutoAnswer(1.0))
    async with (
        agent(daemon, "sam") as supervisor,
        agent(daemon, "alice") as alice,
        agent(daemon, "bob"),
    ):
        call = inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Runaway Caller", hold_s=0.5)
        sipp_calls.append(call)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        assert "layout-r" not in pop["html"]
        assert "Alice Archer" in pop["html"] and "Globex Corporation" in pop["html"]  # default
        failed = await supervisor.wait_for(lambda m: m["type"] == "template_failed", within=10)
        assert failed["data"]["group"] == "Sales"
        assert failed["data"]["call_id"] == pop["call_id"]
        assert "steps" in failed["data"]["error"] or "longer than" in failed["data"]["error"]
        state = await supervisor.wait_for(
            lambda m: m["type"] == "group_state" and m["data"]["failures"], within=10
        )
        assert state["data"]["pops_today"] >= 1
        await asyncio.to_thread(call.wait, 30)

    async with console(daemon, "sam") as sam:
        events = (await sam.get("/api/supervisor/history", params={"group": "Sales"})).json()
    kinds = {e["kind"] for e in events["events"]}
    assert {"supervisor.template.published", "supervisor.template.failed"} <= kinds


async def test_a_supervisor_of_one_group_gets_403_on_another(daemon: DaemonProcess) -> None:
    async with console(daemon, "sue") as sue:
        mine = await sue.get("/api/supervisor/templates", params={"group": "Support"})
        assert mine.status_code == 200
        for reply in (
            await sue.get("/api/supervisor/templates", params={"group": "Sales"}),
            await sue.post(
                "/api/supervisor/versions",
                params={"group": "Sales"},
                json={"source": "<p>mine now</p>", "settings": {}},
            ),
            await sue.post("/api/supervisor/versions/1/publish", params={"group": "Sales"}),
        ):
            assert reply.status_code == 403, reply.text
            assert reply.json()["error"] == "auth.forbidden"


async def first_pop(*clients: Any, within: float = 15.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        for client in clients:
            pops = client.of_type("pop")
            if pops:
                return dict(pops[0]["data"])
        await asyncio.sleep(0.02)
    raise AssertionError("no agent of the group got a pop")
