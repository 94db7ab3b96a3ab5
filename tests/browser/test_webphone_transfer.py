"""Attended transfer from the browser phone (issue 15, item 2): alice answers a carrier call in
the page, consults bob (the caller on hold, bob's desk phone rings and answers), then either
completes the transfer (Asterisk joins the caller and bob, both of alice's calls end) or
cancels it (bob's call ends, alice has the caller back, off hold)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import ALICE_NUMBER, AgentPage, Phones
from tests.browser.webrtc import agent_tab, launch, phone_state, until, webrtc_channels
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


def bridged_with(lab: LabHandle, endpoint: str) -> list[str]:
    """Bridge ids of ``endpoint``'s channels that are up in a bridge."""
    rows = [r.split("!") for r in lab.instance.cli("core show channels concise").splitlines()]
    return [f[12] for f in rows if len(f) > 12 and f[0].startswith(endpoint + "-") and f[12]]


async def answered_in_page(
    lab: LabHandle, daemon: DaemonProcess, browser: Browser, calls: list[SippProcess]
) -> AgentPage:
    alice = await agent_tab(browser, daemon)
    await phone_state(alice.page, "registered")
    calls.append(inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=60))
    await alice.card("Alice Archer").locator("button.card-answer").click(timeout=15_000)
    await alice.page.locator("#phone[data-call='talking']").wait_for(state="attached")
    await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001-webrtc", 10)
    return alice


async def consult_bob(page: Page) -> None:
    await page.fill("#phone-transfer-to", "1002")
    await page.click("#phone-consult")
    await page.locator("#phone[data-consult='talking']").wait_for(state="attached", timeout=15_000)
    await page.locator("#phone-call", has_text="(on hold)").wait_for()


async def test_consult_then_complete_joins_the_caller_and_the_colleague(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    bob = phones("1002")["1002"]
    bob.set_answer_policy(AutoAnswer(0.3))
    alice = await answered_in_page(lab, desktop, webrtc_browser, sipp_calls)
    page = alice.page
    await consult_bob(page)
    assert len(webrtc_channels(lab, "1001")) == 2  # the caller's leg and the consultation
    await asyncio.to_thread(lab.wait_bridged, "PJSIP/1002", 10)

    await page.click("#phone-complete")
    await page.locator("#phone[data-call='idle']").wait_for(state="attached", timeout=15_000)
    await until(lambda: webrtc_channels(lab, "1001") == [], "alice's browser legs are gone")
    # The caller (the trunk's channel) and bob share one bridge now.
    await until(
        lambda: bool(
            set(bridged_with(lab, "PJSIP/1002")) & set(bridged_with(lab, "PJSIP/lab-trunk"))
        ),
        "the caller and bob are bridged",
    )
    assert alice.page_errors == []


async def test_consult_then_cancel_gives_the_caller_back(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    bob = phones("1002")["1002"]
    bob.set_answer_policy(AutoAnswer(0.3))
    alice = await answered_in_page(lab, desktop, webrtc_browser, sipp_calls)
    page = alice.page
    await consult_bob(page)
    bobs_call = await asyncio.to_thread(bob.wait_ringing, 5)

    await page.click("#phone-cancel-consult")
    await asyncio.to_thread(bob.wait_state, bobs_call, "DISCONNECTED", 10)
    await page.locator("#phone[data-consult='none'][data-call='talking']").wait_for(
        state="attached"
    )
    await page.locator("#phone-call", has_text="(on hold)").wait_for(state="detached")
    assert len(webrtc_channels(lab, "1001")) == 1  # alice and the caller, still together
    await page.click("#phone-hangup")
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")
    assert alice.page_errors == []
