"""The PBX admin console in Chromium against the real daemon (its AMI is the fake server):
log in, see the servers, map a DID, and provision agents in bulk from a CSV with a mistake
that is fixed in the grid, re-validated, dry-run and applied. A broken upload gets a clear
error and changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from cti.store import Store
from tests.browser.conftest import ARTIFACTS, LAPTOP, FakePbx

pytestmark = pytest.mark.browser

CSV = (
    "action,username,first name,last name,email,extension,endpoint secret,groups,role,"
    "salesforce user\n"
    "create,frank,Frank,Fisher,frank@example.com,1006,generate,Sales,agent,\n"
    "create,gina,Gina,Green,not-an-email,1007,generate,Sales,agent,\n"
)


async def _admin(browser: Browser, pbx: FakePbx) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": LAPTOP["width"], "height": LAPTOP["height"]})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        # Refused requests (401 before login, 422 for a bad upload) are answers, not faults.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    await page.goto(f"{pbx.daemon.origin}/admin")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", "root-demo")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#me-name")).to_have_attribute("title", "root (admin)")
    await expect(page.locator("#tabs")).to_be_visible()
    return page, problems


async def test_admin_maps_a_did_and_imports_agents_fixing_a_row_in_the_grid(
    browser: Browser, fake_pbx: FakePbx, tmp_path: Path
) -> None:
    page, problems = await _admin(browser, fake_pbx)
    await page.click("#tabs button[data-tab=servers]")
    await expect(page.locator("#server-rows tr", has_text="lab")).to_be_visible()

    await page.click("#tabs button[data-tab=dids]")
    await page.fill("#did-form input[name=did]", "442079460300")
    await page.select_option("#did-group", "Sales")
    await page.click("#did-form button[type=submit]")
    await expect(page.locator("#did-rows tr", has_text="Sales")).to_contain_text("442079460300")

    await page.click("#tabs button[data-tab=agents]")
    upload = tmp_path / "agents.csv"
    upload.write_text(CSV)
    await page.set_input_files("#upload-form input[name=file]", str(upload))
    await page.click("#upload-form button[type=submit]")
    await expect(page.locator("#error-list li")).to_have_text(
        [re.compile(r"row 3, email: 'not-an-email' is not an email")]
    )
    assert await page.locator("#apply-import").is_disabled()

    bad = page.locator("#cell-rows tr[data-row='3'] input[data-key=email]")
    await bad.fill("gina@example.com")
    await page.click("#revalidate")
    await expect(page.locator("#change-rows tr")).to_have_count(2)
    await expect(page.locator("#apply-import")).to_be_enabled()
    await page.click("#apply-import")
    await expect(page.locator("#result-counts")).to_contain_text("Created 2")
    await expect(page.locator("#secret-rows tr")).to_have_count(2)  # shown once
    await page.screenshot(path=str(ARTIFACTS / "admin-import.png"), full_page=True)

    store = Store(fake_pbx.daemon.store_url)
    try:
        made = {a.username: a for a in store.agents() if a.username in ("frank", "gina")}
    finally:
        store.close()
    assert sorted(made) == ["frank", "gina"]
    assert made["gina"].email == "gina@example.com"
    assert problems == []


async def test_a_broken_upload_is_refused_with_a_clear_message(
    browser: Browser, fake_pbx: FakePbx, tmp_path: Path
) -> None:
    page, problems = await _admin(browser, fake_pbx)
    await page.click("#tabs button[data-tab=agents]")
    junk = tmp_path / "agents.xlsx"
    junk.write_bytes(b"PK\x03\x04 this is not a workbook" + bytes(range(256)))
    await page.set_input_files("#upload-form input[name=file]", str(junk))
    await page.click("#upload-form button[type=submit]")
    await expect(page.locator("#status.error")).to_contain_text("workbook")
    assert await page.locator("#import").is_hidden()
    assert problems == []
