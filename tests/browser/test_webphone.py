"""The phone in the agent desktop (issue 15): JsSIP in Chromium, with fake media devices,
registered with the lab Asterisk as the agent's ``<ext>-webrtc`` endpoint (what loopback WebRTC
took: tests/browser/webrtc.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from crm_connectors.builtin import BuiltinCrm
from sip_tests.lab import LabHandle, direct_did
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import ALICE_NUMBER
from tests.browser.webrtc import (
    agent_tab,
    contacts,
    lab_records,
    launch,
    phone_state,
    stats,
    until,
)
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


async def test_browser_phone_registers_answers_on_the_card_with_audio_both_ways(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    sipp_calls: list[SippProcess],
) -> None:
    lab.ensure_idle(30)
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
