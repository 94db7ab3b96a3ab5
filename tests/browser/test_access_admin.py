"""The admin console's access-number tab in Chromium against the real daemon (its AMI is the fake
server): map two DIDs, create a pool of them (a pool without numbers is refused, the field
marked), issue a key (shown once, then gone from the page), see the pool's status and chart move
after a reservation made with that key, and revoke it (the API then answers 401)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.browser.conftest import ARTIFACTS, LAPTOP, FakePbx

pytestmark = pytest.mark.browser

DIDS = ("442079461001", "442079461002")


async def _admin(browser: Browser, pbx: FakePbx) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": LAPTOP["width"], "height": LAPTOP["height"]})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        # A refused request (401 before login, 422 for the bad pool) is an answer, not a fault.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    await page.goto(f"{pbx.daemon.origin}/admin")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", "root-demo")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#tabs")).to_be_visible()
    return page, problems


async def _map_dids(page: Page) -> None:
    await page.click("#tabs button[data-tab=dids]")
    for did in DIDS:
        await page.fill("#did-form input[name=did]", did)
        await page.select_option("#did-group", "Sales")
        await page.click("#did-form button[type=submit]")
        await expect(page.locator("#did-rows tr", has_text="Sales")).to_contain_text(did)


async def _create_pool(page: Page) -> None:
    await page.click("#tabs button[data-tab=access]")
    form = page.locator("#pool-form")
    await form.locator("input[name=name]").fill("web")
    await form.locator("input[name=purpose]").fill("Orders from the shop")
    await form.locator("input[name=hold_seconds]").fill("60")
    await form.locator("button[type=submit]").click()  # no number picked yet
    await expect(page.locator("#pool-dids")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("[data-error-for=numbers]")).to_contain_text("1 to 1000 numbers")
    await page.select_option("#pool-group", "Sales")
    for did in DIDS:
        await page.locator(f"#pool-did-list input[value='{did}']").check()
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#pool-rows tr", has_text="web")).to_contain_text("+442079461002")
    await expect(page.locator("#pool-dids")).not_to_have_attribute("aria-invalid", "true")


async def _issue_key(page: Page) -> str:
    form = page.locator("#key-form")
    await form.locator("input[name=name]").fill("shop backend")
    await form.locator("input[name=per_minute]").fill("60")
    await page.locator("#key-pool-list input[value=web]").check()
    await form.locator("button[type=submit]").click()
    shown = page.locator("#new-key")
    await expect(shown).to_be_focused()
    key = await shown.input_value()
    assert key.startswith("cti_ak_")
    await expect(page.locator("#key-rows tr", has_text="shop backend")).to_contain_text(key[:13])
    await page.click("#hide-key")
    await expect(page.locator("#new-key")).to_have_count(0)
    assert key not in await page.content()  # shown once: nowhere on the page any more
    return key


async def test_admin_creates_a_pool_issues_a_key_and_sees_a_reservation(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    page, problems = await _admin(browser, fake_pbx)
    await _map_dids(page)
    await _create_pool(page)
    key = await _issue_key(page)

    card = page.locator("article.pool-card[data-pool=web]")
    reserved = card.locator("[data-count=reserved] .count-value")
    await expect(reserved).to_have_text("0")
    await expect(card.locator("[data-count=free] .count-value")).to_have_text("2")
    auth = {"authorization": f"Bearer {key}"}
    body = {"customer": {"phone": "+447700900123"}, "context": {"intent": "refund"}}
    async with httpx.AsyncClient(base_url=fake_pbx.daemon.origin) as http:
        made = await http.post("/api/v1/interactions", json=body, headers=auth)
        assert made.status_code == 201, made.text
        await expect(reserved).to_have_text("1")  # the tab polls the status
        await expect(card.locator("[data-count=free] .count-value")).to_have_text("1")
        await expect(card).to_contain_text("50% in use now (1 of 2)")
        await expect(card).to_contain_text("Last 24 hours: 1 reserved")
        drawn = await card.locator("canvas").evaluate("(c) => c.width > 0 && c.height > 0")
        assert drawn
        await page.screenshot(path=str(ARTIFACTS / "admin-access.png"), full_page=True)

        revoke = page.locator("#key-rows button", has_text="Revoke")
        await revoke.click()
        await revoke.click()  # the second press confirms
        await expect(page.locator("#key-rows tr", has_text="shop backend")).to_contain_text(
            "revoked"
        )
        refused = await http.post("/api/v1/interactions", json=body, headers=auth)
        assert refused.status_code == 401
    assert problems == []
