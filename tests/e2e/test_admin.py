"""The PBX admin console end to end on the lab: import agents from a workbook, generate and
apply their Asterisk config, register a phone with the generated secret, pop a DID call with the
group's template; refuse a bad workbook; delete through an exported workbook; trunk health."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sip_tests.lab import LabHandle
from sip_tests.phone import AutoAnswer, PhoneFleet
from sip_tests.sipp import SippProcess
from tests.admin.workbooks import agent_row, read_rows, rewrite, xlsx
from tests.e2e.daemon import AgentClient, DaemonProcess
from tests.e2e.monitoring_lab import monitor_dir

pytestmark = pytest.mark.e2e

CLAIMS_DID = "442079460300"
TEMPLATE = (
    '<div class="claims-pop">CLAIMS {{ call.caller_number }} on DID {{ call.did }}'
    " via {{ call.trunk }}</div>"
)
SCENARIOS = Path(__file__).parent.parent / "admin" / "scenarios"
GENERATED = (
    "pjsip_cti_agents.conf",
    "queues_cti_members.conf",
    "extensions_cti_dids.conf",
    "extensions_cti_emergency.conf",
    "extensions_cti_devices.conf",
)


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
        "CTI_PROVISIONING__TRUNK_POLL_S": "2",
        "CTI_RECORDING__DIRECTORY": str(monitor_dir(lab)),
    }
    monitor_dir(lab).mkdir(parents=True, exist_ok=True)
    process = DaemonProcess(lab, tmp_path_factory.mktemp("admin-daemon"), extra_env=env)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()
    for name in GENERATED:  # leave the lab as the other tests expect it
        (etc / name).unlink(missing_ok=True)
    for module in ("res_pjsip.so", "app_queue.so", "pbx_config.so"):
        lab.instance.cli(f"module reload {module}", check=False)


@pytest.fixture
async def admin(daemon: DaemonProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=daemon.origin, timeout=30) as client:
        reply = await client.post("/login", json={"username": "root", "password": "root-demo"})
        reply.raise_for_status()
        csrf = (await client.get("/api/me")).json()["csrf"]
        client.headers.update({"X-CTI-CSRF": csrf, "Origin": daemon.origin})
        yield client


async def upload(admin: httpx.AsyncClient, data: bytes, name: str) -> dict[str, Any]:
    reply = await admin.post(
        "/api/admin/imports", params={"filename": name}, content=data,
        headers={"content-type": "application/octet-stream"},
    )  # fmt: skip
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    print(f"{name}: validated {body['rows']} rows in {body['validate_ms']} ms")
    return body


async def apply(admin: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    reply = await admin.post(f"/api/admin/imports/{import_id}/apply")
    assert reply.status_code == 202, reply.text
    new_id = reply.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await admin.get(f"/api/admin/imports/{new_id}")).json()
        if body["state"] != "applying":
            assert body["state"] == "applied", body
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("the import did not finish")


async def apply_config(admin: httpx.AsyncClient) -> dict[str, Any]:
    reply = await admin.post("/api/admin/config/apply", json={"reload": True})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert body["reload_error"] is None, body
    return body


async def client_recordings(
    daemon: DaemonProcess, username: str, password: str, call_id: str
) -> list[dict[str, Any]]:
    """The call's recordings ``username`` may hear (GET /api/recordings?call_id=)."""
    origin = {"origin": daemon.origin}
    async with httpx.AsyncClient(base_url=daemon.origin, headers=origin, timeout=30) as http:
        login = await http.post("/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        for _ in range(50):
            reply = await http.get("/api/recordings", params={"call_id": call_id})
            assert reply.status_code == 200, reply.text
            if found := reply.json()["recordings"]:
                return list(found)
            await asyncio.sleep(0.1)
    return []


async def test_import_apply_register_and_pop_with_the_group_template(
    lab: LabHandle,
    fleet: PhoneFleet,
    daemon: DaemonProcess,
    admin: httpx.AsyncClient,
    sipp_calls: list[SippProcess],
) -> None:
    created = await admin.post(
        "/api/admin/groups", json={"name": "Claims", "dids": [CLAIMS_DID], "template": TEMPLATE}
    )
    assert created.status_code == 201, created.text
    recorded = await admin.put(
        "/api/supervisor/recording-policy", params={"group": "Claims"}, json={"policy": "always"}
    )
    assert recorded.status_code == 200, recorded.text
    workbook = xlsx([agent_row("create", ext) for ext in ("2001", "2002", "2003")])
    plan = await upload(admin, workbook, "claims.xlsx")
    assert plan["ok"] and plan["counts"] == {"create": 3, "update": 0, "delete": 0, "ignore": 0}
    done = await apply(admin, plan["id"])
    secrets = done["result"]["secrets"]
    assert sorted(secrets) == ["agent2001", "agent2002", "agent2003"]
    assert all(len(s) >= 20 for s in secrets.values())
    again = (await admin.get(f"/api/admin/imports/{done['id']}")).json()
    assert "secrets" not in again["result"], "secrets are shown once"

    preview = (await admin.get("/api/admin/config")).json()
    assert "[2001](agent-endpoint)" in preview["diffs"]["pjsip_cti_agents.conf"]
    assert secrets["agent2001"] not in preview["files"]["pjsip_cti_agents.conf"]
    assert (
        " same => n,Queue(cti-claims,,,,120,,cti-record)"
        in preview["files"]["extensions_cti_dids.conf"]
    )
    result = await apply_config(admin)
    assert set(result["changed"]) == set(GENERATED)
    assert len(result["reloaded"]) == 3

    phone = fleet.phone("2001", secrets["agent2001"], lab.registrar)
    try:
        await asyncio.to_thread(phone.wait_registered, 10)
        phone.set_answer_policy(AutoAnswer(0.5))
        password = (await admin.post("/api/admin/agents/agent2001/password")).json()["password"]
        client = AgentClient(daemon, "agent2001", password)
        await client.login()
        await client.connect()
        try:
            await client.wait_for(lambda m: m["type"] == "hello")
            # The caller sends audio (a pjsua2 line from the trunk's address): MixMonitor
            # opens its file with the first audio it mixes.
            carrier = fleet.carrier("+442079460001", lab.settings.trunk_host, lab.registrar)
            carrier.reset()
            call = await asyncio.to_thread(carrier.call, CLAIMS_DID)
            pop = (await client.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
            assert 'class="claims-pop"' in pop["html"]
            assert f"on DID {CLAIMS_DID} via lab-trunk" in pop["html"]
            await asyncio.to_thread(carrier.wait_state, call, "CONFIRMED", 10)
            await asyncio.sleep(2.0)
            carrier.hangup(call)
            # The group's always-recorded call was named and stored for its agent, and
            # MixMonitor wrote that file where the daemon reads it: about the talk time (2 s).
            # (Queue's gosub takes a bare context; with Dial's cti-record^s^1 form it ran
            # nothing, and the row had no file.)
            listed = await client_recordings(daemon, "agent2001", password, pop["call_id"])
            assert len(listed) == 1, listed
            path = monitor_dir(lab) / f"{listed[0]['id']}.wav"
            await asyncio.to_thread(lab.wait_idle, 15)
            assert path.is_file(), sorted(p.name for p in monitor_dir(lab).iterdir())
            with wave.open(str(path)) as wav:
                seconds = wav.getnframes() / wav.getframerate()
            assert 1.0 < seconds < 3.5, seconds
        finally:
            await client.close()
    finally:
        fleet.remove(phone)
        await asyncio.to_thread(lab.wait_idle, 15)

    kinds = [e["kind"] for e in (await admin.get("/api/admin/audit")).json()["events"]]
    assert {"admin.group_created", "admin.import", "admin.config_applied"} <= set(kinds)


async def test_a_workbook_with_errors_lists_each_bad_cell_and_changes_nothing(
    admin: httpx.AsyncClient,
) -> None:
    before = (await admin.get("/api/admin/agents/export", params={"format": "csv"})).content
    rows = [
        agent_row("create", "2101", group="Sales"),
        agent_row("create", "2101", group="Sales"),  # the same row twice
        agent_row("create", "2102", group="Sales", role=""),
        agent_row("create", "2103", group="Sales", email="not-an-email"),
        agent_row("create", "1001", group="Sales", username="clash"),  # alice's extension
        agent_row("create", "2104", group="Nowhere"),
    ]
    plan = await upload(admin, xlsx(rows), "bad.xlsx")
    found = {(e["row"], e["column"]): e["reason"] for e in plan["errors"]}
    assert sorted(found) == [
        (3, "extension"),
        (3, "username"),
        (4, "role"),
        (5, "email"),
        (6, "extension"),
        (7, "groups"),
    ]
    assert "also on row 2" in found[(3, "username")]
    assert "belongs to alice" in found[(6, "extension")]
    assert "Nowhere" in found[(7, "groups")]
    assert plan["changes"] == [] and not plan["ok"]
    refused = await admin.post(f"/api/admin/imports/{plan['id']}/apply")
    assert refused.status_code == 422
    after = (await admin.get("/api/admin/agents/export", params={"format": "csv"})).content
    assert after == before


async def test_export_mark_one_delete_reimport_removes_exactly_that_agent(
    admin: httpx.AsyncClient, lab: LabHandle
) -> None:
    exported = (await admin.get("/api/admin/agents/export")).content
    rows = read_rows(exported)
    assert {r["action"] for r in rows} == {"keep"}
    usernames = {r["username"] for r in rows}
    assert "agent2003" in usernames
    plan = await upload(admin, rewrite(exported, {"agent2003": {"action": "delete"}}), "del.xlsx")
    assert plan["ok"], plan["errors"]
    assert plan["counts"] == {"create": 0, "update": 0, "delete": 1, "ignore": len(rows) - 1}
    await apply(admin, plan["id"])
    left = {r["username"] for r in read_rows((await admin.get("/api/admin/agents/export")).content)}
    assert left == usernames - {"agent2003"}
    preview = (await admin.get("/api/admin/config")).json()
    assert "-[2003](agent-endpoint)" in preview["diffs"]["pjsip_cti_agents.conf"]
    await apply_config(admin)
    text = (lab.instance.directory / "etc" / "pjsip_cti_agents.conf").read_text()
    assert "[2003]" not in text and "[2002](agent-endpoint)" in text
    assert "2003" not in lab.instance.cli("pjsip show endpoints")


def options_responder(lab: LabHandle) -> SippProcess:
    """A far end for the standby trunk that answers every OPTIONS (qualify)."""
    s = lab.settings
    scenario = (SCENARIOS / "options_responder.xml").read_text()
    return _start_raw(scenario, s.trunk_host, s.trunk_port + 1)


def _start_raw(scenario: str, host: str, port: int) -> SippProcess:
    workdir = Path(tempfile.mkdtemp(prefix="sipp-opt-"))
    path = workdir / "options_responder.xml"
    path.write_text(scenario)
    argv = [
        shutil.which("sipp") or "sipp", "-sf", str(path), "-i", host, "-p", str(port),
        "-t", "u1", "-nostdin", "-m", "1000000", "-timeout", "120s",
        "-trace_logs", "-log_file", str(workdir / "outcomes.log"),
    ]  # fmt: skip
    return SippProcess(argv, workdir, workdir / "outcomes.log")


async def trunk_state(admin: httpx.AsyncClient, want: str, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        trunks = (await admin.get("/api/admin/trunks")).json()["trunks"]
        state = {t["name"]: t["state"] for t in trunks}.get("lab-standby")
        if state == want:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"lab-standby not {want} after {within} s: {trunks}")


async def test_stopping_the_trunk_far_end_turns_it_unreachable_and_back(
    admin: httpx.AsyncClient, lab: LabHandle, daemon: DaemonProcess
) -> None:
    responder = options_responder(lab)
    try:
        await trunk_state(admin, "reachable", 10)
        metrics = (await admin.get("/metrics")).text
        assert 'cti_trunk_reachable{server="lab",trunk="lab-standby"} 1.0' in metrics
    finally:
        responder.stop()
    took = await trunk_state(admin, "unreachable", 6)  # qualify every 2 s, 1 s timeout
    print(f"trunk unreachable {took:.1f} s after its far end stopped")
    metrics = (await admin.get("/metrics")).text
    assert 'cti_trunk_reachable{server="lab",trunk="lab-standby"} 0.0' in metrics
    assert re.search(
        r'cti_trunk_events_total\{kind="trunk.unreachable",server="lab",'
        r'trunk="lab-standby"\} [1-9]',
        metrics,
    )
    responder = options_responder(lab)
    try:
        took = await trunk_state(admin, "reachable", 6)
        print(f"trunk back {took:.1f} s after its far end returned")
    finally:
        responder.stop()
    events = (await admin.get("/api/admin/audit")).json()["events"]
    kinds = [e["kind"] for e in events if e["details"].get("trunk") == "lab-standby"]
    assert "trunk.unreachable" in kinds and "trunk.back" in kinds
