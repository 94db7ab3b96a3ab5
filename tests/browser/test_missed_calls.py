"""Missed calls in the agent desktop (issue 15, item 4), on the lab: a carrier call rings alice's
desk phone and the caller gives up; both of her tabs show it with a badge, a reload still shows
it (it is in the store), "Mark seen" in one tab clears the other's badge, and "Call back" on a
second missed call rings her phone for the caller's number."""

from __future__ import annotations

import asyncio

import pytest

from sip_tests.lab import direct_did
from tests.browser.conftest import ALICE_NUMBER, AgentPage, Desk

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def missed_call(desk: Desk, alice: AgentPage) -> None:
    """A carrier call to alice that rings her desk phone and ends unanswered."""
    desk.ring(direct_did("1001"), hold_s=5)
    await alice.card("Alice Archer").locator(".badge-ringing").wait_for(timeout=10_000)
    await asyncio.to_thread(desk.lab.hangup_all)  # the caller gives up


async def badge(agent: AgentPage, count: int) -> None:
    await agent.page.locator(f"body[data-missed-unseen='{count}']").wait_for(
        state="attached", timeout=10_000
    )


async def test_a_missed_call_is_listed_in_every_tab_marked_seen_and_called_back(desk: Desk) -> None:
    phone = desk.phones("1001")["1001"]  # rings, never answers by itself
    alice, other_tab = await desk.agent(), await desk.agent()
    await badge(alice, 0)

    await missed_call(desk, alice)
    for tab in (alice, other_tab):
        await badge(tab, 1)
        entry = tab.page.locator(".missed-item[data-seen='0']", has_text="Alice Archer")
        await entry.wait_for()
    assert await alice.page.locator("#missed-badge").inner_text() == "1"
    await other_tab.page.reload()  # kept by the daemon, not by the page
    await other_tab.connected()
    await badge(other_tab, 1)

    await other_tab.page.locator(".missed-item .missed-seen").first.click()
    await badge(alice, 0)  # told over the websocket
    await alice.page.locator(".missed-item[data-seen='1']").first.wait_for()
    assert await alice.page.locator("#missed-badge").is_hidden()

    await asyncio.to_thread(desk.lab.wait_idle, 15)
    phone.reset()
    await missed_call(desk, alice)
    await badge(alice, 1)
    phone.reset()  # forget the missed call's ring
    await alice.page.locator(".missed-item[data-seen='0'] .missed-callback").click()
    call = await asyncio.to_thread(phone.wait_ringing, 10)  # click-to-dial rings her phone
    assert call is not None
    await badge(other_tab, 0)  # calling back marks it seen
    await asyncio.to_thread(desk.lab.hangup_all)
    assert await alice.page.locator(".missed-item").count() == 2
    assert ALICE_NUMBER in await alice.page.locator(".missed-item").first.inner_text()
    alice.assert_clean()
    other_tab.assert_clean()
