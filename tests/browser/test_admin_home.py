"""The admin console's home tab (the landing page) in Chromium against the real daemon, whose AMI
is the fake server: the status bar's lights (their colour and, on hover, the reason; the AMI
light turns red when the PBX goes away), counts that open their tab, the call summary for today
and yesterday from the report buckets, the week's activity chart, the latest audit entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, ConsoleMessage, expect

from cti.reports.buckets import Counting, Deltas
from cti.reports.rows import add_deltas
from cti.store import Store
from tests.browser.conftest import ARTIFACTS, LAPTOP, FakePbx, to_docs

pytestmark = pytest.mark.browser

TODAY = datetime.now(UTC).date()


def _seed(store_url: str) -> None:
    """Today: 5 queue calls, 4 answered after 12 s in all, 1 abandoned; yesterday: 3, all answered;
    7 inbound calls today on the sales DID."""
    figures = {
        TODAY: {"offered": 5, "answered": 4, "abandoned": 1, "wait_answered": 12, "wait_max": 9},
        TODAY - timedelta(days=1): {"offered": 3, "answered": 3, "wait_answered": 30},
    }
    deltas = Deltas(Counting(ZoneInfo("UTC")))
    for day, metrics in figures.items():
        at = _at(day)
        for metric, value in metrics.items():
            deltas.add(at, "queue", "sales", metric, value)
    deltas.add(_at(TODAY), "did", "442079460100", "offered", 7)
    store = Store(store_url)
    try:
        with store.writing("test.seed") as conn:
            add_deltas(conn, deltas)
    finally:
        store.close()


def _at(day: date) -> float:
    now = datetime.now(UTC)
    moment = now if day == now.date() else datetime.combine(day, time(12), UTC)
    return (moment - timedelta(seconds=1)).timestamp()


async def test_admin_lands_on_home_with_lights_counts_and_calls(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    _seed(fake_pbx.daemon.store_url)
    page = await browser.new_page(viewport={"width": LAPTOP["width"], "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    await page.goto(f"{fake_pbx.daemon.origin}/admin")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", "root-demo")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#home")).to_be_visible()  # the landing tab, no click
    await expect(page.locator("#tabs button[data-tab=home]")).to_have_attribute(
        "aria-pressed", "true"
    )

    status = page.locator("#home-status")
    ami = status.locator("li[data-kind=ami][data-name=lab]")
    await expect(ami).to_have_attribute("data-colour", "green")
    await expect(ami).to_have_attribute("title", "connected")
    await expect(status.locator("li[data-kind=store]")).to_have_attribute("data-colour", "green")
    await expect(status.locator("li[data-kind=outbox]")).to_have_attribute("data-colour", "green")
    recording = status.locator("li[data-kind=recording]")
    await expect(recording).to_have_count(1)
    assert await recording.get_attribute("title")  # its reason, on hover

    counts = page.locator("#home-counts")
    await expect(counts.locator("[data-count=users] .count-value")).to_have_text("7")
    await expect(counts.locator("[data-count=groups] .count-value")).to_have_text("2")
    calls = page.locator("#home-calls")
    await expect(calls.locator("[data-count=offered] .count-value")).to_have_text("5")
    await expect(calls.locator("[data-count=inbound] .count-value")).to_have_text("7")
    await expect(calls.locator("[data-count=abandoned] .count-value")).to_have_text("1")
    await expect(calls.locator("[data-count=asa_s] .count-value")).to_have_text("0:03")
    await page.select_option("#home-period", "yesterday")
    await expect(calls.locator("[data-count=offered] .count-value")).to_have_text("3")
    await expect(calls.locator("[data-count=asa_s] .count-value")).to_have_text("0:10")
    label = await page.locator("#home-chart").get_attribute("aria-label")
    week = "answered 0, 0, 0, 0, 0, 3, 4; abandoned 0, 0, 0, 0, 0, 0, 1"
    assert label is not None and label.endswith(week), label
    await expect(page.locator("#home-activity li").first).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "admin-home.png"), full_page=True)
    to_docs(ARTIFACTS / "admin-home.png", "admin-home.png")

    # The PBX goes away: its light turns red (the tab polls) and says why.
    await fake_pbx.ami.stop()
    await expect(ami).to_have_attribute("data-colour", "red", timeout=20_000)
    await expect(ami).to_have_attribute("title", "not connected")

    # A count opens its tab, by keyboard too.
    await counts.locator("[data-count=users]").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#agents")).to_be_visible()
    assert problems == [], problems
