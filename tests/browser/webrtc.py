"""What the browser phone's tests share (issue 15): Chromium with fake media, an agent's tab
granted the microphone, and Asterisk's own view of registrations and channels.

What loopback WebRTC took here: Chromium flags ``--use-fake-device-for-media-stream``,
``--use-fake-ui-for-media-stream`` and ``--allow-loopback-in-peer-connection``, a context
granted ``microphone`` (an explicitly empty permission list breaks ICE: only non-loopback
candidates are offered), and the lab's rtp.conf ``[ice_host_candidates]`` mapping the machine's
address to 127.0.0.1 (cti.lab writes it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from crm_connectors.builtin import BuiltinCrm
from sip_tests.lab import LabHandle
from tests.browser.conftest import ALICE_NUMBER, CHROMIUM, CHROMIUM_ARGS, LAPTOP, AgentPage
from tests.e2e.daemon import DaemonProcess

__all__ = [
    "WEBRTC_ARGS",
    "agent_tab",
    "contacts",
    "lab_records",
    "launch",
    "phone_state",
    "stats",
    "until",
    "webrtc_channels",
]

WEBRTC_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


async def launch() -> AsyncIterator[Browser]:
    """Chromium with fake media devices and loopback ICE (the ``webrtc_browser`` fixture)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *WEBRTC_ARGS]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def agent_tab(
    browser: Browser,
    daemon: DaemonProcess,
    username: str = "alice",
    context: BrowserContext | None = None,
) -> AgentPage:
    """A tab of ``username``, signed in (in ``context``, or a new one granted the microphone)."""
    if context is None:
        context = await browser.new_context(viewport=LAPTOP, permissions=["microphone"])
    page = await context.new_page()
    agent = AgentPage(page, daemon.origin)
    page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
    await agent.login(username)
    return agent


def contacts(lab: LabHandle) -> str:
    """Asterisk's own list of registered contacts (not what the page believes)."""
    return lab.instance.cli("pjsip show contacts")


def webrtc_channels(lab: LabHandle, extension: str) -> list[str]:
    """Asterisk's live channels of ``extension``'s browser phone."""
    rows = lab.instance.cli("core show channels concise").splitlines()
    return [row for row in rows if row.startswith(f"PJSIP/{extension}-webrtc-")]


async def until(check: Callable[[], object], what: str, within: float = 10.0) -> None:
    """Wait until ``check()`` (run in a thread: it may ask Asterisk) is true."""
    deadline = asyncio.get_running_loop().time() + within
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.2)


async def phone_state(page: Page, status: str, within_ms: int = 10_000) -> None:
    await page.locator(f"#phone[data-status='{status}']").wait_for(
        state="attached", timeout=within_ms
    )


async def lab_records(crm: BuiltinCrm) -> list[Any]:
    """The CRM's records of this lab's calls from Alice Archer (call ids ``lab:...``)."""
    return [h for h in await crm.history(ALICE_NUMBER, limit=50) if h.call_id.startswith("lab:")]


async def stats(page: Page) -> dict[str, int]:
    return await page.evaluate("() => window.__phone.stats()")  # type: ignore[no-any-return]
