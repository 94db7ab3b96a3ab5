"""The microphone refused (issue 15, item 6): Chromium with no microphone permission and no
fake consent prompt, so getUserMedia is refused; the page says so in the phone panel, and a
carrier call still pops."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from sip_tests.lab import LabHandle
from sip_tests.sipp import SippProcess
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LAPTOP, AgentPage, Phones
from tests.browser.test_webphone_problems import pops_anyway
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]


@pytest.fixture
async def no_consent() -> AsyncIterator[Browser]:
    """Fake devices, but no ``--use-fake-ui-for-media-stream``: nobody grants the microphone."""
    async with async_playwright() as playwright:
        args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            await browser.close()


async def test_a_refused_microphone_is_said_and_pops_arrive(
    lab: LabHandle,
    desktop: DaemonProcess,
    no_consent: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")
    context = await no_consent.new_context(viewport=LAPTOP)
    page = await context.new_page()
    agent = AgentPage(page, desktop.origin)
    page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
    await agent.login("alice")
    await page.locator("#phone[data-problem='microphone']").wait_for(
        state="attached", timeout=15_000
    )
    await page.locator("#phone-status", has_text="microphone was refused").wait_for()
    await pops_anyway(agent, lab, sipp_calls)
    assert agent.page_errors == []
