"""The desktop keeps working through network trouble, and without a mouse.

The browser reaches the daemon through a TCP relay the test can cut: the page must show the
banner, reconnect by itself and resume where it was (replaying what it missed). The daemon runs
on the fake AMI server; nothing here needs a call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sip_tests.drill.relay import TcpRelay
from sip_tests.lab import LabHandle
from tests.browser.conftest import FakePbx, OpenAgent, fake_pbx_daemon
from tests.e2e.daemon import free_tcp_port

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
async def relayed(lab: LabHandle, tmp_path: Path) -> AsyncIterator[tuple[FakePbx, TcpRelay]]:
    """A daemon on the fake AMI whose public origin is a relay the test can take down."""
    relay_port = free_tcp_port()
    async with fake_pbx_daemon(lab, tmp_path, public_port=relay_port) as pbx:
        relay = TcpRelay(pbx.daemon.port)
        await relay.start(relay_port)
        try:
            yield pbx, relay
        finally:
            await relay.close()


async def test_a_lost_connection_shows_a_banner_then_resumes_with_what_was_missed(
    relayed: tuple[FakePbx, TcpRelay], open_agent: OpenAgent
) -> None:
    pbx, relay = relayed
    alice = await open_agent(f"http://127.0.0.1:{relay.port}")
    await alice.login("alice")
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "snapshot"
    await alice.page.locator("#state-pill", has_text="Ready").wait_for()

    relay.down()  # open connections reset, new ones refused
    banner = alice.page.locator("#banner")
    await banner.filter(has_text="Connection to the CTI server lost").wait_for()
    await alice.page.locator("#conn-status", has_text="Reconnecting").wait_for()

    # Meanwhile her state changes (from another device): a stream message she must not miss.
    async with httpx.AsyncClient(base_url=pbx.daemon.origin) as other:
        login = await other.post("/login", json={"username": "alice", "password": "alice-demo"})
        paused = await other.post(
            "/api/agent/state",
            json={"state": "paused", "reason": "Training"},
            headers={"X-CTI-CSRF": login.json()["csrf"]},
        )
        assert paused.status_code == 200, paused.text

    relay.heal()
    await alice.connected()
    await banner.wait_for(state="hidden")
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "replay"
    await alice.page.locator("#state-pill", has_text="Paused · Training").wait_for()
    alice.assert_clean()


async def test_a_dead_link_is_noticed_by_the_keepalive_not_a_minute_later(
    relayed: tuple[FakePbx, TcpRelay], open_agent: OpenAgent
) -> None:
    """Packets vanish (no FIN, no reset): the page gives the socket up when its ping gets no
    pong, without waiting for the browser's closing handshake to time out (another 60 s), and
    gives up reconnect attempts that hang in the hole; back as soon as the link is."""
    _, relay = relayed
    alice = await open_agent(f"http://127.0.0.1:{relay.port}")
    await alice.login("alice")
    await alice.page.locator("#state-pill", has_text="Ready").wait_for()

    relay.blackhole()
    banner = alice.page.locator("#banner")
    # A ping every 20 s, its pong due within 10 s: at most 30 s (the closing handshake would
    # have added 60 s more, so 45 s is a bound only that bug crosses).
    await banner.filter(has_text="Connection to the CTI server lost").wait_for(timeout=45_000)
    await asyncio.sleep(10)  # attempts into the hole: each given up after the hello timeout
    relay.heal()
    await alice.connected()
    await banner.wait_for(state="hidden", timeout=30_000)
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "replay"
    alice.assert_clean()


async def test_a_daemon_restart_is_survived_with_a_fresh_snapshot(
    fake_pbx: FakePbx, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    await alice.login("alice")
    await asyncio.to_thread(fake_pbx.daemon.stop)
    await alice.page.locator("#banner", has_text="reconnecting").wait_for()
    await asyncio.to_thread(fake_pbx.daemon.start)  # same port, store and session secret
    await alice.connected()
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "snapshot"
    await alice.page.locator("#banner").wait_for(state="hidden")
    alice.assert_clean()


async def test_the_desktop_works_from_the_keyboard(
    fake_pbx: FakePbx, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    page = alice.page
    await page.goto(f"{fake_pbx.daemon.origin}/agent")
    await page.locator("#login-username").wait_for()
    assert await page.evaluate("() => document.activeElement.id") == "login-username"
    await alice.screenshot("login.png")
    await page.keyboard.type("alice")
    await page.keyboard.press("Tab")
    await page.keyboard.type("alice-demo")
    await page.keyboard.press("Enter")
    await alice.connected()
    await alice.screenshot("idle.png")

    await page.keyboard.press("/")  # jump to search
    assert await page.evaluate("() => document.activeElement.id") == "search-q"
    await page.keyboard.type("Archer")
    await page.keyboard.press("Enter")
    first_number = page.locator("#search-results button.dial").first
    await first_number.wait_for()
    for _ in range(10):  # Tab through the result to its first number
        await page.keyboard.press("Tab")
        if await first_number.evaluate("(el) => el === document.activeElement"):
            break
    assert await first_number.evaluate("(el) => el === document.activeElement")
    await page.keyboard.press("Enter")
    await page.locator(".toast", has_text="pick up your phone").wait_for()
    assert fake_pbx.originates() == ["+442079460001"]

    await page.keyboard.press("Shift+Tab")  # the focus ring is visible where the focus is
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).boxShadow")
    assert outline != "none"
    alice.assert_clean()
