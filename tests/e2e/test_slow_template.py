"""One group's template running to its limit on the lab does not hold up another group's pop.

Two real calls (SIPp carrier, pjsua2 phones, the real `cti serve`) arrive together: one into
Sales, whose published template loops until the render limit for this caller, and one into
Support. Support's agent gets the pop over the websocket promptly; Sales' agents get the
default card, and the supervisor is told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sip_tests.lab import DID_SALES, DID_SUPPORT, LabHandle
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import AgentClient, DaemonProcess, agent

pytestmark = pytest.mark.e2e

ALICE_NUMBER = "+442079460001"  # demo contact Alice Archer, Globex Corporation
# Passes the publish samples; for "Slow Caller", ~10^6 upper-casings of a 200,000-character
# string: it runs until the render's time limit stops it.
SLOW = (
    '<section class="pop layout-slow">{% if call.caller_name == "Slow Caller" %}'
    "{% set big = 'x' * 200000 %}{% for a in range(1000) %}{% for b in range(1000) %}"
    "{% if big.upper() %}{% endif %}{% endfor %}{% endfor %}{% endif %}</section>"
)
SUPPORT_PHONES = {"carol": "1003", "dave": "1004", "erin": "1005"}
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = DaemonProcess(lab, tmp_path_factory.mktemp("slow-template"))
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
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


async def publish(client: httpx.AsyncClient, group: str, source: str) -> None:
    saved = await client.post(
        "/api/supervisor/versions", params={"group": group}, json={"source": source}
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["problems"] == []
    number = saved.json()["number"]
    live = await client.post(f"/api/supervisor/versions/{number}/publish", params={"group": group})
    assert live.status_code == 200, live.text


async def first_pop(clients: dict[str, AgentClient], within: float = 15.0) -> tuple[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        for name, client in clients.items():
            pops = client.of_type("pop")
            if pops:
                return name, pops[0]
        await asyncio.sleep(0.005)
    raise AssertionError("no agent of Support got a pop")


async def pop_lag_ms(clients: dict[str, AgentClient], got: dict[str, Phone]) -> float:
    """Milliseconds from the INVITE at the Support phone that rang to its agent's pop."""
    name, message = await first_pop(clients)
    ringing = await asyncio.to_thread(got[SUPPORT_PHONES[name]].wait_ringing, 10)
    assert "Alice Archer" in message["data"]["html"]
    return float(message["received_at"] - ringing.invite_at) * 1000


async def test_a_slow_template_in_one_group_does_not_delay_another_groups_pop(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    async with console(daemon, "sam") as sam:
        await publish(sam, "Sales", SLOW)
    got = phones("1001", "1002", *SUPPORT_PHONES.values())
    for extension in SUPPORT_PHONES.values():
        got[extension].set_answer_policy(AutoAnswer(1.0))
    got["1001"].set_answer_policy(AutoAnswer(1.0))
    async with (
        agent(daemon, "sam") as supervisor,
        agent(daemon, "alice") as alice,
        agent(daemon, "bob"),
        agent(daemon, "carol") as carol,
        agent(daemon, "dave") as dave,
        agent(daemon, "erin") as erin,
    ):
        support = {"carol": carol, "dave": dave, "erin": erin}
        alone = inbound_call(lab.sip, DID_SUPPORT, ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(alone)
        print(f"Support's pop after its INVITE, alone: {await pop_lag_ms(support, got):.1f} ms")
        await asyncio.to_thread(alone.wait, 30)
        await asyncio.to_thread(lab.wait_idle, 15)
        for client in support.values():
            client.received.clear()

        slow = inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Slow Caller", hold_s=0.5)
        sipp_calls.append(slow)
        other = inbound_call(lab.sip, DID_SUPPORT, ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(other)

        lag_ms = await pop_lag_ms(support, got)
        print(f"Support's pop after its INVITE, beside a slow Sales render: {lag_ms:.1f} ms")
        # Generous (the target, a few ms, is the benchmark's): a render holding the loop
        # for the time limit (200 ms before) cannot meet it.
        assert lag_ms < 50, f"Support's pop came {lag_ms:.0f} ms after its INVITE"

        sales = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        assert "layout-slow" not in sales["html"] and "Alice Archer" in sales["html"]  # default
        failed = await supervisor.wait_for(lambda m: m["type"] == "template_failed", within=10)
        assert failed["data"]["group"] == "Sales" and failed["data"]["call_id"] == sales["call_id"]
        await asyncio.gather(asyncio.to_thread(slow.wait, 30), asyncio.to_thread(other.wait, 30))
    await asyncio.to_thread(lab.wait_idle, 15)
