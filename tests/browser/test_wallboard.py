"""The wallboard in Chromium on the lab (issue 18, step 3): a carrier call to the sales DID that
no agent answers waits in the sales queue; Sam's wallboard shows one caller waiting and the
longest wait growing (from ``wallboard`` frames over the websocket), and once the wait passes
the threshold he set on the page, an alert; when the caller hangs up, both go away."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest
from playwright.async_api import Page, WebSocket

from tests.browser.conftest import Desk, to_docs

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SALES_DID = "442079460100"  # Queue(sales) in the lab's dialplan; no sales phone registered


def _boards_received(page: Page) -> list[str]:
    """The ``wallboard`` frames ``page``'s websocket receives from now on."""
    frames: list[str] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: _keep_board(frames, payload))

    page.on("websocket", on_socket)
    return frames


def _keep_board(frames: list[str], payload: str | bytes) -> None:
    text = payload if isinstance(payload, str) else payload.decode()
    if '"type":"wallboard"' in text.replace(" ", ""):
        frames.append(text)


def _seconds(text: str) -> int:
    minutes, seconds = re.fullmatch(r"(\d+):(\d\d)", text.strip()).groups()  # type: ignore[union-attr]
    return int(minutes) * 60 + int(seconds)


async def test_a_waiting_caller_shows_on_the_wallboard_and_alerts_past_the_threshold(
    desk: Desk, phones: Callable[..., object]
) -> None:
    # The session's test phones of the sales agents may still be registered by earlier tests:
    # take them with a manual answer policy, so they ring and the caller keeps waiting.
    phones("1001", "1002")
    sam = await desk.open_agent(desk.daemon.origin)
    page = sam.page
    await page.goto(f"{desk.daemon.origin}/supervisor")  # a supervisor signs in on his console
    await page.fill("#login-username", "sam")
    await page.fill("#login-password", "sam-demo")
    await page.click("#login-form button[type=submit]")
    await page.click("#tabs [data-tab=live]")
    link = page.locator("#wallboard-link[href='/wallboard?group=Sales']")
    await link.wait_for()
    assert await link.get_attribute("href") == "/wallboard?group=Sales"
    boards = _boards_received(page)
    await page.goto(f"{desk.daemon.origin}/wallboard?group=Sales")
    await page.locator("#wb-link", has_text="live: connected").wait_for(timeout=10_000)

    card = page.locator(".wb-queue[data-queue='sales']")
    waiting = card.locator("[data-figure='waiting'] dd")
    assert await waiting.inner_text() == "0"
    assert await page.locator(".wb-alert").count() == 0
    desk.ring(SALES_DID, hold_s=5, answer_timeout_s=40)
    await card.locator("[data-figure='waiting'] dd", has_text="1").wait_for(timeout=15_000)

    # The threshold, set on the page while the caller waits: boards arrive every second then,
    # and what Sam typed stays in the form until he saves it.
    await page.click("#wb-settings")
    await page.fill("#wb-thresholds [name=max_wait_s]", "4")
    await page.fill("#wb-thresholds [name=min_service_level_pct]", "250")
    await page.click("#wb-thresholds button[type=submit]")
    bad = page.locator("#wb-thresholds [name=min_service_level_pct][aria-invalid=true]")
    await bad.wait_for()  # refused, the field named; nothing stored
    seen = len(boards)
    async with asyncio.timeout(5):
        while len(boards) < seen + 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert await page.input_value("#wb-thresholds [name=max_wait_s]") == "4"
    await page.fill("#wb-thresholds [name=min_service_level_pct]", "")
    await page.click("#wb-thresholds button[type=submit]")
    await page.locator("#status", has_text="Thresholds of Sales saved").wait_for()

    alert = page.locator(".wb-alert[data-kind='wait'][data-queue='sales']")
    await alert.wait_for(timeout=15_000)
    longest = await card.locator("[data-figure='longest_wait'] dd").inner_text()
    assert _seconds(longest) >= 4
    assert "limit 0:04" in await alert.inner_text()
    assert await card.get_attribute("class") == "wb-queue wb-alerting"
    to_docs(await sam.screenshot("wallboard.png"), "wallboard.png")

    await asyncio.to_thread(desk.lab.hangup_all)  # the caller gives up
    await card.locator("[data-figure='waiting'] dd", has_text="0").wait_for(timeout=15_000)
    await alert.wait_for(state="detached", timeout=10_000)
    sam.assert_clean()
