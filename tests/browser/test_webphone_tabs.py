"""One tab holds the browser phone (issue 15, item 3): two tabs of one agent (one browser
context: one cookie, one Web Locks manager) register once, ring once, hand the phone on.

Registrations are checked on Asterisk (``pjsip show contacts``: the contact's user part is the
random token the holding tab's JsSIP made) and by the websockets each tab opened to the PBX.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, WebSocket
from playwright.async_api import TimeoutError as PlaywrightTimeout

from crm_connectors.builtin import BuiltinCrm
from sip_tests.lab import LabHandle, direct_did
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import ALICE_NUMBER, AgentPage
from tests.browser.webrtc import (
    agent_tab,
    contacts,
    lab_records,
    launch,
    phone_state,
    until,
    webrtc_channels,
)
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


async def token(page: Page) -> str:
    """The user part of the contact this tab's phone registers (JsSIP's random token)."""
    found = await page.evaluate("() => window.__phone.ua?.contact?.uri?.user ?? null")
    assert isinstance(found, str), found
    return found


def browser_contacts(lab: LabHandle) -> list[str]:
    """Asterisk's contact lines of 1001's browser phone."""
    return [line for line in contacts(lab).splitlines() if "1001-webrtc/sip:" in line]


def pbx_sockets(page: Page, lab: LabHandle) -> list[str]:
    """Record the websockets ``page`` opens to the PBX (a phone registering opens one)."""
    opened: list[str] = []
    port = f":{lab.settings.http_port}/"

    def seen(ws: WebSocket) -> None:
        if port in ws.url:
            opened.append(ws.url)

    page.on("websocket", seen)
    return opened


async def second_tab(first: AgentPage, lab: LabHandle) -> tuple[AgentPage, list[str]]:
    """Another tab of the same agent, in the same browser context (already signed in)."""
    page = await first.page.context.new_page()
    tab = AgentPage(page, first.origin)
    page.on("pageerror", lambda exc: tab.page_errors.append(str(exc)))
    opened = pbx_sockets(page, lab)
    await page.goto(f"{first.origin}/agent")
    await tab.connected()
    return tab, opened


async def only_contact(lab: LabHandle, page: Page, what: str) -> None:
    """Asterisk has exactly one browser contact for 1001, and it is ``page``'s."""
    mine = await token(page)
    await until(
        lambda: [mine in line for line in browser_contacts(lab)] == [True],
        f"Asterisk lists only {what}'s contact ({mine})",
    )


async def rings(page: Page, call: SippProcess, lab: LabHandle, what: str) -> None:
    """Wait until ``page``'s phone rings; if it never does, say how the call and the phone went."""
    try:
        await page.locator("#phone[data-call='ringing']").wait_for(state="attached")
    except PlaywrightTimeout as exc:
        status = await page.locator("#phone-status").text_content()
        contacts = await asyncio.to_thread(browser_contacts, lab)
        raise AssertionError(
            f"{what}'s phone never rang (its status: {status!r}); the call: {call.describe()}; "
            f"lab channels: {lab.active_channels()}; browser contacts: {contacts}"
        ) from exc


async def test_one_tab_registers_rings_once_and_hands_over_on_demand(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    sipp_calls: list[SippProcess],
) -> None:
    lab.ensure_idle(30)
    first = await agent_tab(webrtc_browser, desktop)
    await phone_state(first.page, "registered")
    second, second_sockets = await second_tab(first, lab)
    await phone_state(second.page, "elsewhere")
    await second.page.locator("#phone-status", has_text="another tab").wait_for()
    await only_contact(lab, first.page, "the first tab")
    await asyncio.sleep(1.0)  # a second registration would have been made by now
    assert second_sockets == []
    await only_contact(lab, first.page, "the first tab")

    # A call rings one phone (one browser channel), pops in both tabs, and Answer on the card
    # of the tab without the phone answers it in the tab that has it.
    call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=30)
    sipp_calls.append(call)
    await first.page.locator("#phone[data-call='ringing']").wait_for(state="attached")
    await second.page.locator("#phone[data-call='ringing']").wait_for(state="attached")
    assert len(await asyncio.to_thread(webrtc_channels, lab, "1001")) == 1
    card = second.card("Alice Archer")
    await card.locator("button.card-answer").click()
    await first.page.locator("#phone[data-call='talking']").wait_for(state="attached")
    await second.page.locator("#phone[data-call='talking']").wait_for(state="attached")

    # While the phone is on a call it stays where it is.
    await second.page.click("#phone-take")
    await second.page.locator("#phone-status", has_text="on a call in another tab").wait_for()
    await second.page.click("#phone-hangup")  # relayed too
    await first.page.locator("#phone[data-call='idle']").wait_for(state="attached")
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")

    # "Use the phone here": the first tab unregisters, the second registers.
    await second.page.click("#phone-take")
    await phone_state(second.page, "registered")
    await phone_state(first.page, "elsewhere")
    assert len(second_sockets) == 1, second_sockets
    await only_contact(lab, second.page, "the second tab")
    assert first.page_errors == [] and second.page_errors == []


async def test_closing_the_holding_tab_hands_the_phone_on_and_a_call_meanwhile_rings(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    sipp_calls: list[SippProcess],
) -> None:
    lab.ensure_idle(30)
    async with BuiltinCrm.from_url(desktop.store_url, default_region="GB") as crm:
        before = len(await lab_records(crm))
    first = await agent_tab(webrtc_browser, desktop)
    await phone_state(first.page, "registered")
    second, _ = await second_tab(first, lab)
    await phone_state(second.page, "elsewhere")
    await only_contact(lab, first.page, "the first tab")

    # The holder goes away without a word (no unload handlers run, as when a tab crashes);
    # a call comes in at once, before the other tab has registered.
    await first.page.close()
    call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=30)
    sipp_calls.append(call)
    await phone_state(second.page, "registered", within_ms=5_000)
    await only_contact(lab, second.page, "the second tab")
    card = second.card("Alice Archer")
    await rings(second.page, call, lab, "the second tab")
    await card.locator("button.card-answer").click()
    await second.page.locator("#phone[data-call='talking']").wait_for(state="attached")
    await card.locator(".badge", has_text="On call").wait_for(timeout=10_000)
    await second.page.click("#phone-hangup")
    await until(lambda: lab.active_channels() == 0, "the lab has no channel left")

    async with BuiltinCrm.from_url(desktop.store_url, default_region="GB") as crm:
        deadline = asyncio.get_running_loop().time() + 15
        while len(records := await lab_records(crm)) <= before:
            assert asyncio.get_running_loop().time() < deadline, "no call record"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a second record would have come by now
        records = await lab_records(crm)
    assert len(records) == before + 1, records
    assert second.page_errors == []
