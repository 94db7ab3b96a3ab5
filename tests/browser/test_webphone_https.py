"""The agent desktop served over HTTPS by ``cti serve`` itself ([http] tls_certfile/tls_keyfile,
a certificate from a throwaway CA made by trustme), on a host name that is not loopback: the
page is a secure context, so the browser phone gets the microphone and registers, and a carrier
call pops and rings in the page (issue 15, item 6)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from playwright.async_api import Browser

from sip_tests.lab import LabHandle
from sip_tests.sipp import SippProcess
from tests.browser.conftest import LAPTOP, AgentPage, Phones
from tests.browser.test_webphone_problems import HOST, chromium, pops_anyway
from tests.browser.webrtc import phone_state
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]

__all__ = ["chromium"]  # the fixture, shared with the other problem tests


@dataclass
class TlsDaemon(DaemonProcess):
    """The daemon serving HTTPS; its start-up check trusts the test CA."""

    ca_file: Path = Path()

    @property
    def origin(self) -> str:
        return f"https://{HOST}:{self.port}"

    def _answers(self, *, healthy_only: bool, timeout_s: float) -> bool:
        url = f"https://127.0.0.1:{self.port}/healthz"
        try:
            trust = ssl.create_default_context(cafile=str(self.ca_file))
            status = httpx.get(url, timeout=timeout_s, verify=trust).status_code
        except httpx.HTTPError:
            return False
        return status == 200 or not healthy_only


@contextlib.contextmanager
def tls_daemon(lab: LabHandle, workdir: Path) -> Iterator[TlsDaemon]:
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "127.0.0.1")
    cert_file, key_file, ca_file = workdir / "cert.pem", workdir / "key.pem", workdir / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    process = TlsDaemon(lab, workdir, ca_file=ca_file)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.extra_env = {
        "CTI_HTTP__TLS_CERTFILE": str(cert_file),
        "CTI_HTTP__TLS_KEYFILE": str(key_file),
        "CTI_HTTP__SECURE_COOKIES": "true",
        "CTI_HTTP__TRUSTED_HOSTS": f'["{HOST}", "127.0.0.1"]',
    }
    process.start()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_tail()


async def test_https_served_by_cti_serve_is_a_secure_context_where_the_phone_registers(
    lab: LabHandle,
    tmp_path: Path,
    chromium: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")
    with tls_daemon(lab, tmp_path) as running:
        # Chromium does not know the test CA: its certificate errors are ignored, which leaves
        # the page an https origin (a secure context) all the same.
        context = await chromium.new_context(
            viewport=LAPTOP, permissions=["microphone"], ignore_https_errors=True
        )
        page = await context.new_page()
        agent = AgentPage(page, running.origin)
        page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
        await agent.login("alice")
        assert page.url.startswith(f"https://{HOST}:")
        assert await page.evaluate("() => window.isSecureContext") is True
        await phone_state(page, "registered")
        await pops_anyway(agent, lab, sipp_calls)
        assert agent.page_errors == []
