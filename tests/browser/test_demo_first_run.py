"""The newcomer's first run (issue 15, item 5): `cti demo` on the lab, sign in as alice, press
"Ring me a test call", and the caller's card pops within 2 s: once answered by the demo's
simulated desk phone, once rung and answered in the browser phone (which the simulated phone
steps aside for).

The demo runs as `cti demo` itself (its own settings: browser phone, test caller, simulated
phones), on this session's lab instance, with its store in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from sip_tests.lab import LabHandle, lab_environment
from sip_tests.phone import PhoneFleet
from tests.browser.conftest import LAPTOP, AgentPage
from tests.browser.webrtc import contacts, launch, phone_state, until
from tests.e2e.daemon import free_tcp_port

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]

POP_WITHIN_MS = 2_000  # the promise to a newcomer


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    port: int
    output: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def printed(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture(scope="module")
def demo(
    lab: LabHandle, fleet: PhoneFleet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    # Earlier tests' desk phones of the session would hold the agents' contacts (one per AOR):
    # off the registrar, so that the demo's simulated phones are the desk phones here.
    for phone in fleet.phones:
        phone.unregister()
    workdir = tmp_path_factory.mktemp("demo")
    port = free_tcp_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CTI_")},
        **lab_environment(lab),
        "CTI_STORE__URL": f"sqlite:///{workdir / 'cti.sqlite3'}",
        "CTI_STATE_DIR": str(workdir / "state"),
    }
    output = workdir / "demo.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cti.cli", "demo", "--port", str(port), "--answer-after", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Demo(proc, port, output)
    deadline = time.monotonic() + 120
    while "demo: ready at" not in running.printed():
        assert proc.poll() is None, running.printed()[-3000:]
        assert time.monotonic() < deadline, running.printed()[-3000:]
        time.sleep(0.2)
    yield running
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    # The simulated phones unregistered on the way out: no stale contact for the next test
    # (Asterisk lists the contact until it has handled the REGISTER: give a loaded host time).
    deadline = time.monotonic() + 15
    while "1001/sip:1001@127.0.0.1" in contacts(lab) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "1001/sip:1001@127.0.0.1" not in contacts(lab)


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


def desk_contact(lab: LabHandle) -> bool:
    """Whether Asterisk lists a desk-phone contact of 1001 (the simulated phone's)."""
    return "1001/sip:1001@127.0.0.1" in contacts(lab)


async def alice(browser: Browser, demo: Demo, *, phone_on: bool) -> AgentPage:
    context = await browser.new_context(viewport=LAPTOP, permissions=["microphone"])
    if not phone_on:  # as an agent who turned the browser phone off in an earlier visit
        await context.add_init_script("localStorage.setItem('cti-phone-off:alice', '1')")
    page = await context.new_page()
    agent = AgentPage(page, demo.origin)
    page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
    await agent.login("alice")
    return agent


async def ring_me(agent: AgentPage) -> float:
    """Press "Ring me a test call"; return how long until the caller's card showed (ms)."""
    started = time.monotonic()
    await agent.page.click("#test-call")
    await agent.card("Alice Archer").wait_for(timeout=POP_WITHIN_MS)
    return (time.monotonic() - started) * 1000


def test_the_demo_ends_by_saying_where_to_go_and_what_to_press(demo: Demo) -> None:
    last = demo.printed().split("demo: ready at", 1)[1].splitlines()
    assert last[0].strip() == f"http://127.0.0.1:{demo.port}/agent"
    assert "alice / alice-demo" in last[1] and "Ring me a test call" in last[1]
    assert httpx.get(f"{demo.origin}/healthz", timeout=5).status_code == 200


async def test_ring_me_pops_and_the_simulated_phone_answers(
    lab: LabHandle, demo: Demo, webrtc_browser: Browser
) -> None:
    await until(lambda: desk_contact(lab), "the simulated phone of 1001 is registered")
    agent = await alice(webrtc_browser, demo, phone_on=False)
    await phone_state(agent.page, "off")
    took = await ring_me(agent)
    card = agent.card("Alice Archer")
    await card.locator(".badge", has_text="On call").wait_for(timeout=10_000)  # answered by it
    print(f"pop {took:.0f} ms after the click (simulated phone)")
    await asyncio.to_thread(lab.hangup_all)
    await card.locator(".badge", has_text="Ended").wait_for(timeout=10_000)
    assert agent.page_errors == []


async def test_ring_me_pops_and_rings_the_browser_phone(
    lab: LabHandle, demo: Demo, webrtc_browser: Browser
) -> None:
    await asyncio.to_thread(lab.ensure_idle, 30)
    agent = await alice(webrtc_browser, demo, phone_on=True)
    page = agent.page
    await phone_state(page, "registered")
    await until(lambda: not desk_contact(lab), "the simulated phone steps aside", within=30)
    took = await ring_me(agent)
    await page.locator("#phone[data-call='ringing']").wait_for(state="attached", timeout=5_000)
    card = agent.card("Alice Archer")
    await card.locator("button.card-answer").click()
    await page.locator("#phone[data-call='talking']").wait_for(state="attached", timeout=10_000)
    print(f"pop {took:.0f} ms after the click (browser phone)")
    await page.click("#phone-hangup")
    await card.locator(".badge", has_text="Ended").wait_for(timeout=10_000)
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")
    # The browser phone off again: the simulated phone comes back.
    await page.uncheck("#phone-enabled")
    await phone_state(page, "off")
    await until(lambda: desk_contact(lab), "the simulated phone is back", within=10)
    assert agent.page_errors == []
