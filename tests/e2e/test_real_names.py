"""Caller names with quotes, backslashes and non-Latin letters, end to end on the lab.

Real carrier calls (SIPp, the From display-name quoted as RFC 3261 says) through Asterisk 22,
which keeps the SIP quoted-pairs in CALLERID(name) (undone in `from-trunk`) and escapes names
on AMI (undone by the adapter): the agent's pop, the CRM's call record, its history and a
contact created from the pop must all read the name the caller sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from html import unescape

import httpx
import pytest
from sqlalchemy import select

from crm_connectors.builtin import BuiltinCrm
from crm_connectors.builtin.engine import create_crm_engine
from crm_connectors.builtin.models import calls
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import DaemonProcess, agent

pytestmark = pytest.mark.e2e

Phones = Callable[..., dict[str, Phone]]

# Numbers no demo contact has (the seed uses +44 20 7946 0000-0666 and 0999).
CALLERS = [
    ("+442079460951", "Dan O'Brien", ("Dan", "O'Brien")),
    ("+442079460952", "Back\\slash Ltd", ("Back\\slash", "Ltd")),
    ("+442079460953", 'Ann "Annie" Lee', ('Ann "Annie"', "Lee")),
    ("+442079460954", "Zoë Łukasiewicz", ("Zoë", "Łukasiewicz")),
    ("+442079460955", "山田太郎", ("", "山田太郎")),
]


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


@pytest.fixture
async def desktop(daemon: DaemonProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Alice's browser for the desktop's HTTP API (session cookie, CSRF token, origin)."""
    async with httpx.AsyncClient(base_url=daemon.origin, timeout=30) as client:
        reply = await client.post("/login", json={"username": "alice", "password": "alice-demo"})
        reply.raise_for_status()
        csrf = (await client.get("/api/me")).json()["csrf"]
        client.headers.update({"X-CTI-CSRF": csrf, "Origin": daemon.origin})
        yield client


def recorded_name(store_url: str, call_id: str) -> str | None:
    engine = create_crm_engine(store_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(calls.c.caller_name).where(calls.c.call_id == call_id))
            return row.scalar_one_or_none()
    finally:
        engine.dispose()


async def history_has(crm: BuiltinCrm, number: str, call_id: str) -> bool:
    for _ in range(100):
        if any(h.call_id == call_id for h in await crm.history(number, limit=10)):
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.parametrize(("number", "name", "parts"), CALLERS, ids=[c[0] for c in CALLERS])
async def test_the_callers_name_reaches_pop_record_history_and_search(
    number: str,
    name: str,
    parts: tuple[str, str],
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    desktop: httpx.AsyncClient,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), number, name, hold_s=0.5)
        sipp_calls.append(call)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        assert pop["card"]["call"]["caller_name"] == name
        assert name in unescape(pop["html"])  # shown as text: the template escapes it
        assert "\\\\" not in pop["html"] and "\\'" not in pop["html"]
        await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
        await alice.wait_for(
            lambda m: m["type"] == "call_state" and m["data"]["state"] == "ended", within=20
        )

    call_id = pop["call_id"]
    assert await history_has(crm, number, call_id), "the call never reached the CRM"
    assert recorded_name(daemon.store_url, call_id) == name

    # The agent creates a contact from the pop, with the name as shown; search finds it as is.
    first, last = parts
    reply = await desktop.post(
        "/api/crm/contacts", json={"first_name": first, "last_name": last, "phone": number}
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["contact"]["name"] == name
    found = await desktop.get("/api/crm/search", params={"q": last})
    assert found.status_code == 200, found.text
    assert name in [hit["title"] for hit in found.json()["hits"]]
    history = await desktop.get("/api/crm/history", params={"number": number})
    assert call_id in [entry["call_id"] for entry in history.json()["calls"]]
