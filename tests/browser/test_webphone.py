"""The phone in the agent desktop (issue 15): JsSIP in Chromium, with fake media devices,
registered with the lab Asterisk as the agent's ``<ext>-webrtc`` endpoint.

What loopback WebRTC took here: Chromium flags ``--use-fake-device-for-media-stream``,
``--use-fake-ui-for-media-stream`` and ``--allow-loopback-in-peer-connection``, a context
granted ``microphone`` (an explicitly empty permission list breaks ICE: only non-loopback
candidates are offered), and the lab's rtp.conf ``[ice_host_candidates]`` mapping the machine's
address to 127.0.0.1 (cti.lab writes it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from crm_connectors.builtin import BuiltinCrm
from sip_tests.lab import LabHandle, direct_did
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import ALICE_NUMBER, CHROMIUM, CHROMIUM_ARGS, LAPTOP, AgentPage
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]

WEBRTC_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *WEBRTC_ARGS]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def agent_tab(browser: Browser, daemon: DaemonProcess, username: str = "alice") -> AgentPage:
    context = await browser.new_context(viewport=LAPTOP, permissions=["microphone"])
    page = await context.new_page()
    agent = AgentPage(page, daemon.origin)
    page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
    await agent.login(username)
    return agent


def contacts(lab: LabHandle) -> str:
    """Asterisk's own list of registered contacts (not what the page believes)."""
    return lab.instance.cli("pjsip show contacts")


async def until(check: object, what: str, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await asyncio.to_thread(check):  # type: ignore[arg-type]
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


async def test_browser_phone_registers_answers_on_the_card_with_audio_both_ways(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    sipp_calls: list[SippProcess],
) -> None:
    lab.wait_idle(30)
    alice = await agent_tab(webrtc_browser, desktop)
    page = alice.page
    await phone_state(page, "registered")
    await until(lambda: "1001-webrtc/" in contacts(lab), "Asterisk lists 1001-webrtc's contact")

    call = inbound_call(
        lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=30, rtp_echo=True
    )
    sipp_calls.append(call)
    card = alice.card("Alice Archer")
    await card.locator(".badge-ringing").wait_for(timeout=10_000)
    await page.locator("#phone[data-call='ringing']").wait_for(state="attached", timeout=10_000)
    await card.locator("button.card-answer").click()
    await page.locator("#phone[data-call='talking']").wait_for(state="attached", timeout=10_000)
    await card.locator(".badge", has_text="On call").wait_for(timeout=10_000)

    await asyncio.sleep(2.0)  # let media flow: SIPp echoes what the browser sends
    counted = await stats(page)
    assert counted["sent"] > 50 and counted["received"] > 50, counted
    # ... and on the far side: Asterisk's RTP counters of the browser's channel.
    row = next(
        line
        for line in lab.instance.cli("pjsip show channelstats").splitlines()
        if "1001-webrtc" in line
    )
    numbers = [int(n) for n in re.findall(r"\b\d+\b", row.split("1001-webrtc", 1)[1])]
    assert numbers and max(numbers) > 50, row

    await page.click("#phone-hold")
    await page.locator("#phone-call", has_text="on hold").wait_for(timeout=5_000)
    await page.click("#phone-hold")
    await page.locator("#phone-hold", has_text="Hold").wait_for(timeout=5_000)

    await page.click("#phone-keypad [data-digit='5']")
    log = lab.instance.log_files()[0]
    pattern = re.compile(r"DTMF end '5' received on PJSIP/1001-webrtc-")
    await until(lambda: bool(pattern.search(log.read_text(errors="replace"))), "Asterisk got '5'")

    await page.click("#phone-hangup")
    await page.locator("#phone[data-call='idle']").wait_for(state="attached", timeout=10_000)
    await card.locator(".badge", has_text="Ended").wait_for(timeout=10_000)
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")

    async with BuiltinCrm.from_url(desktop.store_url, default_region="GB") as crm:
        deadline = asyncio.get_running_loop().time() + 15
        while not (records := await lab_records(crm)):
            assert asyncio.get_running_loop().time() < deadline, "no call record"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a second record would have come by now
        records = await lab_records(crm)
    assert len(records) == 1, records  # the demo CRM's seeded history is not from the lab
    assert records[0].agent == "alice", records
    assert alice.page_errors == []
