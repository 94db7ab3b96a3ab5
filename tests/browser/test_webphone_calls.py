"""The browser phone with the agent's other phone and the CTI's own calls (issue 15, items 1-2):
a desk phone (pjsua2) and the browser phone of one agent both ring and the first to answer
takes the call; a queue rings the browser phone; click-to-dial from an agent who has only the
browser phone starts in the page, which answers its own ring, and then dials the number."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from crm_connectors.builtin import BuiltinCrm
from sip_tests.lab import DID_SALES, LabHandle, direct_did
from sip_tests.phone import AutoAnswer
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import ALICE_NUMBER, Phones
from tests.browser.webrtc import agent_tab, lab_records, launch, phone_state, until
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


def channels(lab: LabHandle, prefix: str) -> list[str]:
    rows = lab.instance.cli("core show channels concise").splitlines()
    return [row for row in rows if row.startswith(prefix)]


async def test_desk_and_browser_phone_both_ring_and_the_first_to_answer_takes_it(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    desk = phones("1001")["1001"]  # answers only when told
    async with BuiltinCrm.from_url(desktop.store_url, default_region="GB") as crm:
        before = len(await lab_records(crm))
    alice = await agent_tab(webrtc_browser, desktop)
    page = alice.page
    await phone_state(page, "registered")
    sipp_calls.append(
        inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=30)
    )
    ringing = await asyncio.to_thread(desk.wait_ringing, 10)
    await page.locator("#phone[data-call='ringing']").wait_for(state="attached")
    card = alice.card("Alice Archer")
    await card.locator(".badge-ringing").wait_for()
    await card.locator("button.card-answer").click()
    await page.locator("#phone[data-call='talking']").wait_for(state="attached")
    await asyncio.to_thread(desk.wait_state, ringing, "DISCONNECTED", 10)  # it stopped ringing
    assert channels(lab, "PJSIP/1001-0") == []  # no desk-phone channel left
    assert await alice.card().count() == 1  # one pop for the agent, not one per phone
    await page.click("#phone-hangup")
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")

    async with BuiltinCrm.from_url(desktop.store_url, default_region="GB") as crm:
        deadline = asyncio.get_running_loop().time() + 15
        while len(records := await lab_records(crm)) <= before:
            assert asyncio.get_running_loop().time() < deadline, "no call record"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a second record would have come by now
        records = await lab_records(crm)
    assert len(records) == before + 1, records
    assert records[0].agent == "alice", records  # newest first: the agent, once


async def test_a_queue_call_rings_the_browser_phone(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    sipp_calls: list[SippProcess],
) -> None:
    await asyncio.to_thread(lab.ensure_idle, 30)
    alice = await agent_tab(webrtc_browser, desktop)
    page = alice.page
    await phone_state(page, "registered")
    sipp_calls.append(inbound_call(lab.sip, DID_SALES, ALICE_NUMBER, "Alice Archer", hold_s=30))
    await page.locator("#phone[data-call='ringing']").wait_for(state="attached", timeout=15_000)
    await alice.card("Alice Archer").locator("button.card-answer").click()
    await page.locator("#phone[data-call='talking']").wait_for(state="attached")
    assert len(channels(lab, "PJSIP/1001-webrtc-")) == 1
    await page.click("#phone-hangup")
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")


async def test_click_to_dial_with_only_the_browser_phone(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    phones: Phones,
) -> None:
    bob = phones("1002")["1002"]
    bob.set_answer_policy(AutoAnswer(0.3))
    alice = await agent_tab(webrtc_browser, desktop)
    page = alice.page
    await phone_state(page, "registered")
    await page.fill("#dial-number", "1002")
    await page.press("#dial-number", "Enter")
    # The page answers its own ring (the Originate), then Asterisk dials 1002, which answers.
    await page.locator("#phone[data-call='talking']").wait_for(state="attached", timeout=10_000)
    await asyncio.to_thread(bob.wait_ringing, 10)
    await asyncio.to_thread(lab.wait_bridged, "PJSIP/1002", 10)
    assert len(channels(lab, "PJSIP/1001-webrtc-")) == 1
    await page.click("#phone-hangup")
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")
    assert alice.page_errors == []
