"""Desk phones added by MAC, on the lab (issue 16): a pjsua2 phone configured only from the file
the product serves for its MAC registers and takes the agent's call (and its pop reaches the
agent), presents the agent's extension when it calls, and its emergency call leaves on the
trunk with its location's callback number (seen by SIPp); another device's file, or a wrong
secret, is refused and audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from sip_tests.sipp import SippProcess, inbound_call, trunk_far_end
from tests.e2e.daemon import AgentClient, DaemonProcess
from tests.site.test_phone_files import parse_account
from tests.site.test_signup import account_from_linphone
from tests.site.test_wizard_api import HQ

pytestmark = pytest.mark.e2e

GENERATED = (
    "pjsip_cti_agents.conf",
    "queues_cti_members.conf",
    "extensions_cti_dids.conf",
    "extensions_cti_emergency.conf",
    "extensions_cti_devices.conf",
)
ALICE_DESK = "001565aa0001"  # Yealink T54W of alice (1001)
BOB_DESK = "000b82bb0002"  # Grandstream GRP2614 of bob (1002)
CALLBACK = "+12175550142"  # HQ's emergency callback number


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    etc = lab.instance.directory / "etc"
    env = {
        "CTI_PROVISIONING__CONFIG_DIR": str(etc),
        "CTI_PROVISIONING__SERVER": "lab",
        "CTI_PROVISIONING__ADMIN_USERNAME": "cti-config",
        "CTI_PROVISIONING__ADMIN_SECRET": "cti-config-lab-secret",
        "CTI_PROVISIONING__ENDPOINT_TEMPLATE": "agent-endpoint",
        "CTI_PROVISIONING__AOR_TEMPLATE": "agent-aor",
        "CTI_PROVISIONING__EMERGENCY_TRUNK": "lab-trunk",
        "CTI_PROVISIONING__PHONE_SIP_HOST": "127.0.0.1",
        "CTI_PROVISIONING__PHONE_SIP_PORT": str(lab.settings.sip_port),
    }
    process = DaemonProcess(lab, tmp_path_factory.mktemp("site-daemon"), extra_env=env)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()
    for name in GENERATED:  # leave the lab as the other tests expect it
        (etc / name).unlink(missing_ok=True)
    for module in ("res_pjsip.so", "app_queue.so", "pbx_config.so"):
        lab.instance.cli(f"module reload {module}", check=False)


@pytest.fixture(scope="module")
def secrets(daemon: DaemonProcess) -> dict[str, str]:
    """Add HQ and the two desk phones, apply the configuration; the devices' shown secrets."""
    return asyncio.run(_set_up_site(daemon))


async def _set_up_site(daemon: DaemonProcess) -> dict[str, str]:
    async with _admin(daemon) as admin:
        added = await admin.post("/api/site/locations", json=HQ)
        assert added.status_code == 201, added.text
        rows = [
            {"mac": ALICE_DESK, "model": "yealink-t54w", "user": "alice", "location": "HQ"},
            {"mac": BOB_DESK, "model": "grandstream-grp2614", "user": "bob", "location": "HQ"},
        ]
        reply = await admin.post("/api/site/devices", json={"devices": rows})
        assert reply.status_code == 201, reply.text
        applied = await admin.post("/api/admin/config/apply", json={"reload": True})
        assert applied.status_code == 200 and applied.json()["reload_error"] is None, applied.text
        return {d["mac"]: d["provisioning_secret"] for d in reply.json()["devices"]}


def _admin(daemon: DaemonProcess, username: str = "root", password: str = "root-demo") -> Any:
    """A signed-in HTTP session (CSRF token and origin set): root's unless told otherwise."""

    class Admin:
        async def __aenter__(self) -> httpx.AsyncClient:
            self.client = httpx.AsyncClient(base_url=daemon.origin, timeout=30)
            reply = await self.client.post(
                "/login", json={"username": username, "password": password}
            )
            reply.raise_for_status()
            csrf = (await self.client.get("/api/me")).json()["csrf"]
            self.client.headers.update({"X-CTI-CSRF": csrf, "Origin": daemon.origin})
            return self.client

        async def __aexit__(self, *exc: object) -> None:
            await self.client.aclose()

    return Admin()


async def _configured_phone(
    daemon: DaemonProcess, fleet: PhoneFleet, mac: str, secret: str
) -> tuple[Phone, dict[str, str]]:
    """A pjsua2 phone set up only from what the product serves for ``mac``."""
    async with httpx.AsyncClient(base_url=daemon.origin) as phone_http:
        reply = await phone_http.get(f"/provisioning/{mac}.cfg", auth=httpx.DigestAuth(mac, secret))
    assert reply.status_code == 200, reply.text
    account = parse_account(reply.text, "yealink")
    assert account["user"] == account["auth"] == f"d{mac}"
    phone = fleet.phone(account["user"], account["password"], account["server"])
    await asyncio.to_thread(phone.wait_registered, 10)
    return phone, account


@pytest.fixture
async def alice_desk(
    daemon: DaemonProcess, fleet: PhoneFleet, secrets: dict[str, str], lab: LabHandle
) -> AsyncIterator[Phone]:
    phone, _ = await _configured_phone(daemon, fleet, ALICE_DESK, secrets[ALICE_DESK])
    try:
        yield phone
    finally:
        phone.hangup_all()
        fleet.remove(phone)
        await asyncio.to_thread(lab.wait_idle, 15)


async def test_a_phone_set_up_from_its_file_registers_and_takes_the_agents_call(
    daemon: DaemonProcess, alice_desk: Phone, sipp_calls: list[SippProcess], lab: LabHandle
) -> None:
    alice_desk.set_answer_policy(AutoAnswer(0.3))
    client = AgentClient(daemon, "alice", "alice-demo")
    await client.login()
    await client.connect()
    try:
        await client.wait_for(lambda m: m["type"] == "hello")
        await asyncio.sleep(11)  # the daemon's directory refresh (every 10 s) learns the device
        call = inbound_call(lab.sip, direct_did("1001"), "+442079460777", "Dee Vice", hold_s=1.0)
        sipp_calls.append(call)
        ringing = await asyncio.to_thread(alice_desk.wait_ringing, 15)
        await asyncio.to_thread(alice_desk.wait_state, ringing, "CONFIRMED", 10)
        pop = (await client.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        assert "442079460777" in str(pop)
        await asyncio.to_thread(call.wait, 30)
    finally:
        await client.close()


def _sales_member(lab: LabHandle, mac: str) -> str:
    """The device's line in ``queue show sales`` ("" when it is no member)."""
    lines = lab.instance.cli("queue show sales").splitlines()
    return next((line for line in lines if f"PJSIP/d{mac}" in line), "")


async def test_a_queue_call_rings_the_device_and_the_agents_pause_covers_it(
    daemon: DaemonProcess, alice_desk: Phone, sipp_calls: list[SippProcess], lab: LabHandle
) -> None:
    """The device is a sales member (alice is in Sales): paused and unpaused with alice, and a
    sales call rings it; answering there pops for alice."""
    assert _sales_member(lab, ALICE_DESK), lab.instance.cli("queue show sales")
    alice_desk.set_answer_policy(AutoAnswer(0.3))
    client = AgentClient(daemon, "alice", "alice-demo")
    await client.login()
    await client.connect()
    try:
        await client.wait_for(lambda m: m["type"] == "hello")
        await asyncio.sleep(11)  # the daemon's directory refresh (every 10 s) learns the device
        async with _admin(daemon, "alice", "alice-demo") as alice:
            paused = await alice.post(
                "/api/agent/state", json={"state": "paused", "reason": "Lunch"}
            )
            assert paused.status_code == 200, paused.text
            await _until(lambda: "paused" in _sales_member(lab, ALICE_DESK).lower())
            ready = await alice.post("/api/agent/state", json={"state": "ready"})
            assert ready.status_code == 200, ready.text
            await _until(lambda: "paused" not in _sales_member(lab, ALICE_DESK).lower())
        call = inbound_call(lab.sip, "442079460100", "+442079460778", "Kew Caller", hold_s=1.0)
        sipp_calls.append(call)
        ringing = await asyncio.to_thread(alice_desk.wait_ringing, 20)
        await asyncio.to_thread(alice_desk.wait_state, ringing, "CONFIRMED", 10)
        pop = (await client.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        assert "442079460778" in str(pop)
        await asyncio.to_thread(call.wait, 30)
    finally:
        await client.close()


async def _until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll ``check`` (off the loop) until it holds; fail after ``within_s``."""
    for _ in range(int(within_s / 0.25)):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not within {within_s} s")


async def test_the_device_presents_the_agents_extension(
    alice_desk: Phone, phones: Callable[..., dict[str, Phone]]
) -> None:
    bob = phones("1002")["1002"]
    out = alice_desk.call("1002")
    ringing = await asyncio.to_thread(bob.wait_ringing, 10)
    assert ringing.caller_number == "1001", ringing.remote_uri
    alice_desk.hangup(out)


async def test_an_emergency_call_presents_the_location_callback_at_the_trunk(
    alice_desk: Phone, lab: LabHandle, sipp_calls: list[SippProcess]
) -> None:
    far_end = trunk_far_end(lab.sip, answer_delay_s=0.2, hold_s=1.0)
    sipp_calls.append(far_end)
    out = alice_desk.call("911")
    (invite,) = await asyncio.to_thread(far_end.wait_outcome, "invite", 15)
    assert invite.fields["dialed"] == "911"
    assert invite.fields["caller"] == f"sip:{CALLBACK}", invite.fields
    await asyncio.to_thread(alice_desk.wait_state, out, "CONFIRMED", 10)
    alice_desk.hangup(out)


async def test_another_devices_file_and_a_wrong_secret_are_refused_and_audited(
    daemon: DaemonProcess, secrets: dict[str, str]
) -> None:
    mine = httpx.DigestAuth(ALICE_DESK, secrets[ALICE_DESK])
    async with httpx.AsyncClient(base_url=daemon.origin) as http:
        other = await http.get(f"/provisioning/cfg{BOB_DESK}.xml", auth=mine)
        assert other.status_code == 404 and "P34" not in other.text
        wrong = await http.get(
            f"/provisioning/cfg{BOB_DESK}.xml", auth=httpx.DigestAuth(BOB_DESK, "guessed")
        )
        assert wrong.status_code == 401 and "P34" not in wrong.text
    async with _admin(daemon) as admin:
        await asyncio.sleep(0.5)  # the history writer stores events in the background
        reply = await admin.get("/api/admin/audit", params={"kind": "site.phone_file_refused"})
        events = reply.json()["events"]
    reasons = {(e["details"]["reason"], e["details"]["mac"]) for e in events}
    assert {("other_device", BOB_DESK), ("bad_credentials", BOB_DESK)} <= reasons


async def test_a_signup_link_yields_a_linphone_xml_a_pjsua2_account_registers_with(
    daemon: DaemonProcess, secrets: dict[str, str], fleet: PhoneFleet, lab: LabHandle
) -> None:
    async with _admin(daemon) as admin:
        row = {"model": "mobile", "user": "carol", "location": "HQ"}
        added = await admin.post("/api/site/devices", json={"devices": [row]})
        assert added.status_code == 201, added.text
        applied = await admin.post("/api/admin/config/apply", json={"reload": True})
        assert applied.json()["reload_error"] is None, applied.text
        issued = await admin.post(
            "/api/site/signup-links", json={"users": ["carol"], "valid_for_s": 600}
        )
        assert issued.status_code == 201, issued.text
        (link,) = issued.json()["links"]
    path = link["url"].removeprefix(daemon.origin)
    async with httpx.AsyncClient(base_url=daemon.origin) as browser:
        assert (await browser.post(f"{path}/open")).status_code == 200
        password = "plum tiger seven lanterns"
        assert (await browser.post(f"{path}/password", json={"password": password})).is_success
        offer = await browser.post(f"{path}/device/mobile")
        assert offer.status_code == 200, offer.text
    async with httpx.AsyncClient() as softphone:  # as Linphone fetches it: no cookie
        xml = await softphone.get(offer.json()["urls"]["linphone"])
        assert xml.status_code == 200, xml.text
        assert (await softphone.get(offer.json()["urls"]["linphone"])).status_code == 410
    async with httpx.AsyncClient(base_url=daemon.origin) as other:
        assert (await other.post(f"{path}/open")).status_code == 410  # spent
    account = account_from_linphone(xml.text)
    assert account["server"] == f"127.0.0.1:{lab.settings.sip_port}"
    phone = fleet.phone(account["user"], account["password"], account["server"])
    try:
        await asyncio.to_thread(phone.wait_registered, 10)
    finally:
        fleet.remove(phone)
    carol = AgentClient(daemon, "carol", password)
    await carol.login()  # the password set through the link signs carol in
