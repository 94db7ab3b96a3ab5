"""Wrap-up on the lab: which calls have it, as Asterisk's queues see it (issue 13, item 4).

Carol (PJSIP/1003) is in the seeded Support group (wrap-up 15 s, queue calls only by default)
and a member of queue ``support``. Direct-DID calls to her phone must leave her free for the
queue; a queue call's wrap-up pauses her in the queue; she ends it early from the desktop API.
What Asterisk holds is read with the AMI action ``QueueStatus`` on a socket of the test's own,
not from the daemon's state.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from cti.store import Store
from sip_tests.lab import DID_SUPPORT, LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import AgentClient, DaemonProcess, agent

pytestmark = pytest.mark.e2e

CAROL = "PJSIP/1003"
CALLER = "+442079460001"
Phones = Callable[..., dict[str, Phone]]


def queue_member(lab: LabHandle, queue: str, interface: str) -> dict[str, str]:
    """``interface``'s ``QueueMember`` entry of a ``QueueStatus`` listing, as Asterisk says it."""
    s = lab.settings
    with socket.create_connection(("127.0.0.1", s.ami_port), timeout=5) as sock:
        login = (
            f"Action: Login\r\nUsername: {s.ami_username}\r\n"
            f"Secret: {s.ami_secret.get_secret_value()}\r\nEvents: off\r\n\r\n"
            f"Action: QueueStatus\r\nActionID: p13\r\nQueue: {queue}\r\n\r\n"
        )
        sock.sendall(login.encode())
        buffer = b""
        while b"Event: QueueStatusComplete" not in buffer:
            chunk = sock.recv(65536)
            assert chunk, f"AMI closed before QueueStatus completed: {buffer[-500:]!r}"
            buffer += chunk
        sock.sendall(b"Action: Logoff\r\n\r\n")
    for block in buffer.decode().split("\r\n\r\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
        if fields.get("Event") == "QueueMember" and fields.get("StateInterface") == interface:
            return fields
    raise AssertionError(f"{interface} is not a member of {queue}")


def paused_in_queue(lab: LabHandle) -> tuple[bool, str]:
    member = queue_member(lab, "support", CAROL)
    return member["Paused"] == "1", member.get("PausedReason", "")


async def until_paused(lab: LabHandle, wanted: bool, within: float = 10.0) -> tuple[bool, str]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = await asyncio.to_thread(paused_in_queue, lab)
        if state[0] is wanted or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = DaemonProcess(lab, tmp_path_factory.mktemp("daemon"))
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@pytest.fixture
async def desktop(daemon: DaemonProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Carol's desktop HTTP API (session cookie, CSRF token, origin)."""
    async with httpx.AsyncClient(base_url=daemon.origin, timeout=30) as client:
        reply = await client.post("/login", json={"username": "carol", "password": "carol-demo"})
        reply.raise_for_status()
        csrf = (await client.get("/api/me")).json()["csrf"]
        client.headers.update({"X-CTI-CSRF": csrf, "Origin": daemon.origin})
        yield client


async def call_ends(
    lab: LabHandle, carol: AgentClient, sipp_calls: list[SippProcess], did: str
) -> str:
    """One carrier call to ``did`` that carol's phone answers; its call id once it ended."""
    call = inbound_call(lab.sip, did, CALLER, "Alice Archer", hold_s=1.0)
    sipp_calls.append(call)
    seen = len(carol.of_type("pop"))
    await carol.wait_for(lambda m: len(carol.of_type("pop")) > seen, within=30)
    call_id = str(carol.of_type("pop")[-1]["data"]["call_id"])
    await asyncio.to_thread(call.wait_outcome, "local_hangup", 30)
    await carol.wait_for(
        lambda m: (
            m["type"] == "call_state"
            and m["data"]["call_id"] == call_id
            and m["data"]["state"] == "ended"
        ),
        within=20,
    )
    await asyncio.to_thread(lab.wait_idle, 10)
    return call_id


async def test_direct_calls_leave_the_agent_free_for_the_queue_and_queue_calls_wrap_up(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    desktop: httpx.AsyncClient,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1003")["1003"].set_answer_policy(AutoAnswer(0.3))
    assert (await desktop.post("/api/agent/state", json={"state": "ready"})).status_code == 200
    assert await until_paused(lab, False) == (False, "")
    async with agent(daemon, "carol") as carol:
        for _ in range(3):  # steady direct-DID traffic to carol's phone
            await call_ends(lab, carol, sipp_calls, direct_did("1003"))
            await asyncio.sleep(1.0)  # what a wrap-up pause would need to reach the PBX
            assert await asyncio.to_thread(paused_in_queue, lab) == (False, "")
        states = [m["data"]["state"] for m in carol.of_type("agent_state")]
        assert "wrapup" not in states, states

        # A queue call still reaches her, and its wrap-up pauses her in the queue.
        await call_ends(lab, carol, sipp_calls, DID_SUPPORT)
        wrap = await carol.wait_for(
            lambda m: m["type"] == "agent_state" and m["data"]["state"] == "wrapup", within=10
        )
        assert 14 <= wrap["data"]["until"] - wrap["data"]["since"] <= 15
        assert await until_paused(lab, True) == (True, "wrap-up")
        body = (await desktop.get("/api/agent/state")).json()
        assert body["state"] == "wrapup" and body["until"] == wrap["data"]["until"]

        # She ends it early: Asterisk unpauses her at once, and the audit log says so.
        reply = await desktop.post("/api/agent/wrapup/end", json={})
        assert reply.status_code == 200, reply.text
        assert reply.json()["state"] == "ready"
        assert await until_paused(lab, False, within=3) == (False, "")
        again = await desktop.post("/api/agent/wrapup/end", json={})
        assert (again.status_code, again.json()["error"]) == (409, "conflict")
    store = Store(daemon.store_url)
    try:
        [event] = store.events(kind="agent.wrapup_ended")
    finally:
        store.close()
    assert event.actor == "carol" and event.details["via"] == "button"
    assert 0 < event.details["seconds_left"] <= 15
