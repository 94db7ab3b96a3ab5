"""A recorded call while the recording folder is not writable (issue 19, its last "Done when").

Sales records every call; the lab Asterisk's monitor folder, which is also the daemon's
[recording] directory, is made immutable (chattr +i: the root that runs the tests passes every
permission check otherwise), so MixMonitor can write nothing there. The call goes on regardless:
alice's websocket gets the pop, the built-in CRM gets the call record exactly once (its
recording link answers 404 "missing on disk", not a broken page), the daemon logs no traceback,
and the admin status bar's recording light and /healthz are yellow with the reason.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_connectors.base import CallHistoryEntry
from crm_connectors.builtin import BuiltinCrm
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.monitoring_lab import console, monitor_dir, monitoring_daemon

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("chattr") is None, reason="chattr makes it unwritable"),
]

ALICE_NUMBER = "+442079460001"  # demo contact Alice Archer
Phones = Callable[..., dict[str, Phone]]


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


def names_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("unwritable")) as process:
        yield process


@pytest.fixture
def unwritable(lab: LabHandle, daemon: DaemonProcess) -> Iterator[Path]:
    """The monitor folder, immutable for the test and writable again after it, whatever
    happened (other tests of this lab record into it)."""
    folder = monitor_dir(lab)
    chattr("+i", folder)
    try:
        yield folder
    finally:
        chattr("-i", folder)


@pytest.fixture
async def crm(daemon: DaemonProcess) -> AsyncIterator[BuiltinCrm]:
    async with BuiltinCrm.from_url(daemon.store_url, default_region="GB") as connector:
        yield connector


async def records_of(crm: BuiltinCrm, call_id: str, within: float = 10.0) -> list[CallHistoryEntry]:
    """The CRM's history entries of ``call_id`` once the outbox delivered it (or none)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [h for h in await crm.history(ALICE_NUMBER, limit=50) if h.call_id == call_id]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def status_now(daemon: DaemonProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    """The admin home page's recording light and /healthz's recording field, read now."""
    async with console(daemon, "root") as admin:
        home = await admin.get("/api/admin/dashboard")
        assert home.status_code == 200, home.text
        [light] = [s for s in home.json()["status"] if s["kind"] == "recording"]
        health = await admin.get("/healthz")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "ok", body  # not degraded
    return light, body["recording"]


async def test_a_recorded_call_pops_and_is_logged_once_when_the_folder_is_unwritable(
    lab: LabHandle,
    phones: Phones,
    daemon: DaemonProcess,
    crm: BuiltinCrm,
    unwritable: Path,
    sipp_calls: list[SippProcess],
) -> None:
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "tell_agent": True, "retention_days": 30},
        )
        assert policy.status_code == 200, policy.text
    before = await asyncio.to_thread(names_in, unwritable)
    got = phones("1001")
    got["1001"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=3)
        sipp_calls.append(call)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        call_id = pop["call_id"]
        assert "Alice Archer" in pop["html"]
        # The dialplan did start MixMonitor on the answering leg (the daemon saw it start):
        # what follows is a recorded call whose file could not be written, not an unrecorded one.
        told = await alice.wait_for(lambda m: m["type"] == "recording", within=10)
        assert told["data"]["call_id"] == call_id and told["data"]["event"] == "started"
        await asyncio.to_thread(call.wait_outcome, "local_hangup", 30)
        await alice.wait_for(
            lambda m: (
                m["type"] == "call_state"
                and m["data"]["call_id"] == call_id
                and m["data"]["state"] == "ended"
            ),
            within=20,
        )
    assert await asyncio.to_thread(names_in, unwritable) == before  # nothing could be written there

    records = await records_of(crm, call_id)
    await asyncio.sleep(1.0)  # a duplicate, if any, would land by now
    records = await records_of(crm, call_id)
    assert len(records) == 1, records
    [record] = records
    assert record.outcome == "answered" and record.agent == "alice"
    [link] = record.recordings
    async with console(daemon, "alice") as desk:
        played = await desk.get(link)
    assert played.status_code == 404, played.text
    assert played.json()["error"] == "not_found" and "missing on disk" in played.text

    light, health = await status_now(daemon)
    assert light["colour"] == "yellow"
    assert light["reason"] == f"recording directory {unwritable} not writable"
    assert health == {"ok": False, "reason": light["reason"]}
    log = await asyncio.to_thread((daemon.workdir / "daemon.log").read_text, errors="replace")
    assert "Traceback" not in log


async def test_the_light_is_green_again_once_the_folder_is_writable(
    daemon: DaemonProcess, lab: LabHandle
) -> None:
    light, health = await status_now(daemon)  # the folder's immutability was undone
    assert (light["colour"], light["reason"]) == ("green", "readable and writable")
    assert health == {"ok": True, "reason": ""}
