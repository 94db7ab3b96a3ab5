"""The report pages in Chromium against the real daemon (fake AMI, real SQLite store): the admin
console's Reports tab (every queue, trunks too) and the supervisor console's (their groups only):
filters, chart, tables, the CSV export opened and compared with the page, a bad time zone said
in the page. Bucket figures are written into the daemon's store as its recorder writes them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, expect

from cti.reports.buckets import Counting, Deltas
from cti.reports.rows import add_deltas
from cti.store import GroupSpec, Store
from tests.browser.conftest import ARTIFACTS, LAPTOP, FakePbx, to_docs

pytestmark = pytest.mark.browser

NONE = "\u2013"  # the page's mark of a figure with no value (no answered call: no ASA)
TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=1), TODAY - timedelta(days=2)


def _at(day: date, hour: int, minute: int = 5) -> float:
    return datetime.combine(day, time(hour, minute), UTC).timestamp()


def _seed(store_url: str) -> None:
    """Known figures: queues sales and support, a Vip group sam does not own, alice, a trunk."""
    store = Store(store_url)
    try:
        store.create_group(GroupSpec(name="Vip", queues=("vip",)))
        deltas = Deltas(Counting(ZoneInfo("UTC")))
        sales = {
            "offered": 10,
            "answered": 8,
            "abandoned": 2,
            "abandoned_short": 1,
            "wait_answered": 80,
            "sl_answered": 7,
            "talk": 1200,
            "wait_max": 45,
        }
        for metric, value in sales.items():
            deltas.add(_at(D1, 10), "queue", "sales", metric, value)
        for metric, value in {
            "offered": 4,
            "answered": 4,
            "wait_answered": 20,
            "sl_answered": 4,
            "talk": 400,
        }.items():
            deltas.add(_at(D2, 14), "queue", "support", metric, value)
        deltas.add(_at(D1, 11), "queue", "vip", "offered", 3)
        for metric, value in {"calls": 5, "talk": 600}.items():
            deltas.add(_at(D1, 10), "agent", "alice", metric, value)
        deltas.add_span(_at(D1, 9, 0), _at(D1, 10, 0), "agent", "alice", "login")
        deltas.add_span(_at(D1, 9, 30), _at(D1, 9, 40), "agent", "alice", "pause:Lunch")
        deltas.add(_at(D1, 10), "trunk", "carrier", "offered", 12)
        with store.writing("test.seed") as conn:
            add_deltas(conn, deltas)
    finally:
        store.close()


async def _console(browser: Browser, pbx: FakePbx, path: str, user: str) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": LAPTOP["width"], "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)  # a refused request is an answer; CSP reports are not

    page.on("console", console)
    await page.goto(f"{pbx.daemon.origin}{path}")
    await page.fill("#login-username", user)
    await page.fill("#login-password", f"{user}-demo")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#tabs")).to_be_visible()
    await page.click("#tabs button[data-tab=reports]")
    return page, problems


def _as_csv(rows: list[list[str]]) -> list[list[str]]:
    """The page's cells as the CSV has them: a figure with no value is empty there."""
    return [[c if c != NONE else "" for c in r] for r in rows]


def _totals(page: Page, prefix: str, key: str) -> Locator:
    return page.locator(f"#{prefix}-totals tbody tr", has_text=key)


async def _table(page: Page, selector: str) -> list[list[str]]:
    cells: list[list[str]] = await page.locator(selector).evaluate(
        "(t) => [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.textContent))"
    )
    return cells


async def test_admin_reports_tab_shows_every_queue_and_its_csv_matches(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    _seed(fake_pbx.daemon.store_url)
    page, problems = await _console(browser, fake_pbx, "/admin", "root")
    prefix = "admin-report"
    sales = _totals(page, prefix, "sales")
    # offered, answered, abandoned (not short), short, timed out, ASA, service level 7/(10-1)
    await expect(sales).to_contain_text("10")
    cells = await sales.locator("td").all_inner_texts()
    assert cells[:8] == ["sales", "10", "8", "1", "1", "0", "10", "77.8"], cells
    await expect(_totals(page, prefix, "vip")).to_be_visible()  # admins see every group's queues
    drawn = await page.locator(f"#{prefix}-canvas").evaluate("(c) => c.width > 0 && c.height > 0")
    assert drawn

    # The CSV link answers exactly the figures shown: same periods, keys and columns.
    href = await page.locator(f"#{prefix}-csv").get_attribute("href")
    assert href is not None and href.startswith("/api/reports.csv?")
    reply = await page.request.get(f"{fake_pbx.daemon.origin}{href}")
    assert reply.status == 200
    lines = list(csv.reader(io.StringIO(await reply.text())))
    periods = await _table(page, f"#{prefix}-periods table")
    totals = await _table(page, f"#{prefix}-totals table")
    assert lines[1 : 1 + len(periods)] == _as_csv(periods)
    assert [line[1:] for line in lines[1 + len(periods) :]] == _as_csv(totals)
    await page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
    to_docs(ARTIFACTS / "reports.png", "reports.png")

    # Trunks are the admin's; by keyboard: pick the dimension, Enter in a field runs it.
    await page.focus(f"#{prefix}-dim")
    await page.select_option(f"#{prefix}-dim", "trunk")
    await page.focus(f"#{prefix}-tz")
    await page.keyboard.press("Enter")
    await expect(_totals(page, prefix, "carrier")).to_contain_text("12")

    # A time zone that does not exist is said in the page, and nothing is half-shown.
    await page.fill(f"#{prefix}-tz", "Mars/Olympus_Mons")
    await page.keyboard.press("Enter")
    await expect(page.locator(f"#{prefix}-message")).to_contain_text("no such time zone")
    assert problems == [], problems


async def test_supervisor_reports_tab_shows_their_groups_only(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    _seed(fake_pbx.daemon.store_url)
    page, problems = await _console(browser, fake_pbx, "/supervisor", "sam")
    prefix = "sup-report"
    await expect(_totals(page, prefix, "support")).to_contain_text("4")
    await expect(_totals(page, prefix, "sales")).to_be_visible()
    await expect(_totals(page, prefix, "vip")).to_have_count(0)  # not sam's group
    assert await page.locator(f"#{prefix}-dim option[value=trunk]").evaluate("(o) => o.hidden")

    await page.select_option(f"#{prefix}-dim", "group")
    groups = await page.locator(f"#{prefix}-keys option").all_inner_texts()
    assert groups == ["Sales", "Support"]
    await page.select_option(f"#{prefix}-keys", ["Sales"])
    await page.select_option(f"#{prefix}-by", "hour")
    await page.fill(f"#{prefix}-from", D1.isoformat())
    await page.fill(f"#{prefix}-to", D1.isoformat())
    await page.click(f"#{prefix}-form button[type=submit]")
    hour = page.locator(f"#{prefix}-periods tbody tr", has_text=f"{D1.isoformat()}T10:00")
    await expect(hour).to_contain_text("Sales")
    assert (await hour.locator("td").all_inner_texts())[1:4] == ["Sales", "10", "8"]

    await page.select_option(f"#{prefix}-dim", "agent")
    await page.select_option(f"#{prefix}-by", "day")
    await page.click(f"#{prefix}-form button[type=submit]")
    alice = _totals(page, prefix, "alice")
    await expect(alice).to_contain_text("3600")  # logged in an hour, 600 s of it paused for Lunch
    head = await page.locator(f"#{prefix}-totals th").all_inner_texts()
    assert "paused: Lunch" in head
    csv_href = await page.locator(f"#{prefix}-csv").get_attribute("href")
    assert csv_href is not None and "dim=agent" in csv_href
    assert problems == [], problems
