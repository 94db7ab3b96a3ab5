"""AMI over TLS on the lab: the daemon verifies Asterisk's certificate against the lab's CA and
gets call events through it; a certificate of another CA is refused, and the admin console's
server list says why (issue 14, item 6)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import trustme

from cti.errors import ValidationFailed
from sip_tests.lab import LabHandle, ami_server, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import DaemonProcess, agent

pytestmark = pytest.mark.e2e

ALICE_NUMBER = "+442079460001"  # demo contact Alice Archer


def tls_server(lab: LabHandle, ca_file: Path, name: str = "lab") -> dict[str, object]:
    """The lab as a ``[[servers]]`` entry on its AMI TLS port, verified against ``ca_file``."""
    return {
        **ami_server(lab),
        "name": name,
        "port": lab.settings.ami_tls_port,
        "tls": True,
        "tls_ca_file": str(ca_file),
    }


class UnhealthyDaemon(DaemonProcess):
    """A daemon whose AMI link is expected to stay down: started once HTTP answers."""

    start_until_healthy: ClassVar[bool] = False


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    ca_file = lab.instance.certificate().ca_file
    env = {"CTI_SERVERS": json.dumps([tls_server(lab, ca_file)])}
    process = DaemonProcess(lab, tmp_path_factory.mktemp("daemon"), extra_env=env)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()  # waits for /healthz 200: the AMI link over TLS is up
    yield process
    assert process.stop() == 0, process.log_tail()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The certificate of a CA that never signed the lab's."""
    path = tmp_path_factory.mktemp("ca") / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def wrong_ca_daemon(
    lab: LabHandle, tmp_path_factory: pytest.TempPathFactory, other_ca: Path
) -> Iterator[DaemonProcess]:
    env = {"CTI_SERVERS": json.dumps([tls_server(lab, other_ca)])}
    process = UnhealthyDaemon(lab, tmp_path_factory.mktemp("daemon"), extra_env=env)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@pytest.fixture
async def admin_of(
    wrong_ca_daemon: DaemonProcess,
) -> AsyncIterator[httpx.AsyncClient]:
    daemon = wrong_ca_daemon
    async with httpx.AsyncClient(base_url=daemon.origin, timeout=30) as client:
        reply = await client.post("/login", json={"username": "root", "password": "root-demo"})
        reply.raise_for_status()
        csrf = (await client.get("/api/me")).json()["csrf"]
        client.headers.update({"X-CTI-CSRF": csrf, "Origin": daemon.origin})
        yield client


async def server_status(
    admin: httpx.AsyncClient, name: str, until: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    """The admin console's row of server ``name`` once ``until`` holds (or the last one seen)."""
    deadline = time.monotonic() + within
    while True:
        reply = await admin.get("/api/admin/servers")
        reply.raise_for_status()
        row: dict[str, Any] = next(s for s in reply.json()["servers"] if s["name"] == name)
        if until(row) or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.2)


async def test_a_call_pops_through_the_verified_tls_link(
    lab: LabHandle,
    phones: Callable[..., dict[str, Phone]],
    daemon: DaemonProcess,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(call)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        assert "Alice Archer" in pop["html"]
        await alice.wait_for(
            lambda m: m["type"] == "call_state" and m["data"]["state"] == "ended", within=20
        )
    assert daemon.healthy()  # /healthz: every AMI link (the one over TLS) connected


async def test_a_certificate_of_another_ca_is_refused_and_the_console_says_why(
    lab: LabHandle, wrong_ca_daemon: DaemonProcess, admin_of: httpx.AsyncClient
) -> None:
    row = await server_status(admin_of, "lab", lambda r: bool(r["last_error"]), within=15)
    assert row["state"] != "ready" and not row["ready"]
    assert "TLS certificate is not trusted" in row["last_error"], row
    assert "ca_file" in row["last_error"]
    assert row["tls"] is True and row["port"] == lab.settings.ami_tls_port
    async with httpx.AsyncClient(base_url=wrong_ca_daemon.origin) as http:
        health = await http.get("/healthz")
    assert health.status_code == 503 and health.json()["ami"] == {"lab": False}
    assert "not trusted" in wrong_ca_daemon.log_tail(200)


async def test_an_admin_adds_the_lab_over_tls_with_its_ca(
    lab: LabHandle, wrong_ca_daemon: DaemonProcess, admin_of: httpx.AsyncClient, tmp_path: Path
) -> None:
    spec = tls_server(lab, lab.instance.certificate().ca_file, name="lab-tls")
    body = {k: spec[k] for k in ("name", "port", "username", "secret", "tls", "tls_ca_file")}
    body["host"] = "127.0.0.1"
    missing = await admin_of.post(
        "/api/admin/servers", json={**body, "tls_ca_file": str(tmp_path / "none.pem")}
    )
    assert missing.status_code == 422, missing.text
    assert missing.json()["error"] == ValidationFailed.error_id
    assert "tls_ca_file" in missing.json()["details"]
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    garbage = await admin_of.post("/api/admin/servers", json={**body, "tls_ca_file": str(not_pem)})
    assert garbage.status_code == 422, garbage.text
    listed = (await admin_of.get("/api/admin/servers")).json()["servers"]
    assert [s["name"] for s in listed] == ["lab"], "a refused server must not be stored"

    added = await admin_of.post("/api/admin/servers", json=body)
    assert added.status_code == 201, added.text
    row = await server_status(admin_of, "lab-tls", lambda r: r["ready"], within=15)
    assert row["ready"] and row["tls"] is True, row
    assert row["tls_ca_file"] == body["tls_ca_file"] and row["tls_verify"] is True
