"""The recording folder's state on /healthz and the admin console's status bar (issue 19).

A daemon whose [recording] directory is missing, then present, then not writable (immutable,
chattr +i: the root that runs the tests passes every permission check otherwise): /healthz says
so under "recording" without turning the node degraded (calls go on without recordings), and the
admin home page's "recording folder" light is yellow with the same reason, green once fixed,
each time read as it is now (the light used to keep the sweeper's last look, up to an hour old).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sip_tests.lab import LabHandle
from tests.e2e.daemon import DaemonProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("recording-status") / "monitor"
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


@pytest.fixture(scope="module")
def daemon(
    lab: LabHandle, folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    env = {"CTI_RECORDING__DIRECTORY": str(folder)}
    process = DaemonProcess(lab, tmp_path_factory.mktemp("status-daemon"), extra_env=env)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True)


async def states(daemon: DaemonProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    """The admin home page's recording light, and /healthz's body (both read now)."""
    async with httpx.AsyncClient(base_url=daemon.origin, timeout=30) as admin:
        login = await admin.post("/login", json={"username": "root", "password": "root-demo"})
        assert login.status_code == 200, login.text
        home = await admin.get("/api/admin/dashboard")
        assert home.status_code == 200, home.text
        [light] = [s for s in home.json()["status"] if s["kind"] == "recording"]
        health = await admin.get("/healthz")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "ok", body  # not degraded
    return light, body["recording"]


async def test_the_recording_folder_s_state_shows_on_healthz_and_the_admin_status(
    daemon: DaemonProcess, folder: Path
) -> None:
    light, health = await states(daemon)
    assert (
        light["colour"] == "yellow"
        and light["reason"] == f"recording directory {folder} is missing"
    )
    assert health == {"ok": False, "reason": light["reason"]}

    await asyncio.to_thread(folder.mkdir)
    light, health = await states(daemon)
    assert (light["colour"], light["reason"]) == ("green", "readable and writable")
    assert health == {"ok": True, "reason": ""}

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: cannot make the folder unwritable for root")
    await asyncio.to_thread(chattr, "+i", folder)
    try:
        light, health = await states(daemon)
    finally:
        await asyncio.to_thread(chattr, "-i", folder)
    assert light["colour"] == "yellow"
    assert light["reason"] == f"recording directory {folder} not writable"
    assert health == {"ok": False, "reason": light["reason"]}
