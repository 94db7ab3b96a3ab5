"""What the page says when the browser phone cannot work, and that pops still arrive (issue 15,
item 6): the PBX's websocket unreachable, and a page that is no secure context (plain http on
a host name that is not loopback: browsers then refuse the microphone)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from sip_tests.lab import LabHandle, direct_did
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import (
    ALICE_NUMBER,
    CHROMIUM,
    CHROMIUM_ARGS,
    LAPTOP,
    AgentPage,
    Phones,
    seeded,
)
from tests.browser.webrtc import WEBRTC_ARGS, phone_state
from tests.e2e.daemon import DaemonProcess, free_tcp_port

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]

HOST = "cti.test"  # resolved to 127.0.0.1 by Chromium only: a page on it is no secure context


@contextlib.contextmanager
def daemon(
    lab: LabHandle, workdir: Path, env: Callable[[int], dict[str, str]]
) -> Iterator[DaemonProcess]:
    """A seeded daemon with the settings ``env(its port)``."""
    process = seeded(lab, workdir)
    process.extra_env = env(process.port)
    process.start()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_tail()


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        args = [*CHROMIUM_ARGS, *WEBRTC_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            await browser.close()


async def alice_at(browser: Browser, origin: str) -> AgentPage:
    context = await browser.new_context(viewport=LAPTOP, permissions=["microphone"])
    page = await context.new_page()
    agent = AgentPage(page, origin)
    page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
    await agent.login("alice")
    return agent


async def pops_anyway(agent: AgentPage, lab: LabHandle, calls: list[SippProcess]) -> None:
    """A carrier call to alice rings her desk phone and pops on the page all the same."""
    calls.append(inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=5))
    await agent.card("Alice Archer").locator(".badge-ringing").wait_for(timeout=10_000)
    await asyncio.to_thread(lab.hangup_all)  # SIPp's caller would ring on for 20 s


async def test_an_unreachable_pbx_websocket_is_said_and_pops_arrive(
    lab: LabHandle,
    tmp_path: Path,
    chromium: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")
    closed = f"ws://127.0.0.1:{free_tcp_port()}/ws"  # nothing listens there
    with daemon(lab, tmp_path, lambda _: {"CTI_WEBPHONE__WS_URL": closed}) as running:
        agent = await alice_at(chromium, running.origin)
        await agent.page.locator("#phone[data-problem='unreachable']").wait_for(state="attached")
        await agent.page.locator("#phone-status", has_text="cannot be reached").wait_for()
        await pops_anyway(agent, lab, sipp_calls)
        assert agent.page_errors == []


async def test_a_page_without_a_secure_context_says_so_and_pops_arrive(
    lab: LabHandle,
    tmp_path: Path,
    chromium: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")

    def env(port: int) -> dict[str, str]:
        origin = f"http://{HOST}:{port}"
        return {
            "CTI_HTTP__PUBLIC_ORIGIN": origin,
            "CTI_HTTP__TRUSTED_HOSTS": f'["{HOST}", "127.0.0.1"]',
        }

    with daemon(lab, tmp_path, env) as running:
        agent = await alice_at(chromium, f"http://{HOST}:{running.port}")
        assert await agent.page.evaluate("() => window.isSecureContext") is False
        await phone_state(agent.page, "problem")
        await agent.page.locator("#phone[data-problem='insecure']").wait_for(state="attached")
        await agent.page.locator("#phone-status", has_text="secure page").wait_for()
        await pops_anyway(agent, lab, sipp_calls)
        assert agent.page_errors == []
