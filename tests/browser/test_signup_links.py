"""Signup links in Chromium, against the real daemon on the lab (issue 16, part 4).

The admin issues links in the console's Agents tab (for two users typed in, and for every agent
of an import just applied), sees each QR code once, and revokes one. An agent opens her link:
the page holds her to the password policy, then she picks a mobile softphone and gets a QR code
of a download address that a softphone (here httpx, with no cookie, as Linphone fetches it)
turns into a Linphone XML that parses, once; the page then says the phone has its settings.
Another agent picks this browser and signs in to the agent desktop with the password he chose.
A used link, and a revoked one, each say so.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from sip_tests.lab import LabHandle
from tests.browser.conftest import ARTIFACTS, LAPTOP, seeded
from tests.e2e.daemon import DaemonProcess
from tests.e2e.test_site_phones import _admin
from tests.site.test_signup import account_from_linphone
from tests.site.test_wizard_api import HQ

pytestmark = pytest.mark.browser

GOOD = "lantern orbit pebble quay"
CSV = (
    "action,username,first name,last name,email,extension,endpoint secret,groups,role,"
    "salesforce user\n"
    "create,gwen,Gwen,Grant,gwen@example.com,1016,generate,Sales,agent,\n"
    "create,hugo,Hugo,Hart,hugo@example.com,1017,generate,Sales,agent,\n"
)


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    env = {
        "CTI_PROVISIONING__PHONE_SIP_HOST": "127.0.0.1",
        "CTI_PROVISIONING__PHONE_SIP_PORT": str(lab.settings.sip_port),
    }
    process = seeded(lab, tmp_path_factory.mktemp("signup"), env)
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        await context.close()


async def _page(browser: Browser, contexts: list[BrowserContext], problems: list[str]) -> Page:
    """A new browser (its own cookies) with one tab that records script errors."""
    context = await browser.new_context(
        viewport={"width": LAPTOP["width"], "height": LAPTOP["height"]}
    )
    contexts.append(context)
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        # Refused requests (410 for a used link, 422 for a weak password) are answers.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    return page


async def _issue_in_console(page: Page, origin: str, tmp_path: Path) -> dict[str, str]:
    """Sign in as root, issue links for carol and dave, then for an import: user -> URL."""
    await page.goto(f"{origin}/admin")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", "root-demo")
    await page.click("#login-form button[type=submit]")
    await page.click("#tabs button[data-tab=agents]")
    panel = page.locator("#signup-links")
    await panel.locator("input[name=users]").fill("carol, dave")
    await panel.locator("select[name=valid_for_s]").select_option("3600")
    await panel.get_by_role("button", name="Issue signup links").click()
    issued = panel.locator("figure.issued-link")
    await expect(issued).to_have_count(2)
    await expect(issued.first.locator("img.qr")).to_have_attribute("src", re.compile("^data:"))
    urls = {}
    for user in ("carol", "dave"):
        urls[user] = await panel.get_by_label(f"Signup link of {user}").input_value()
    await expect(panel.locator("tr[data-user=dave]")).to_have_attribute("data-state", "issued")
    await panel.get_by_role("button", name="Revoke the link of dave").click()
    await expect(panel.locator("tr[data-user=dave]")).to_have_attribute("data-state", "revoked")

    upload = tmp_path / "agents.csv"
    upload.write_text(CSV)
    await page.set_input_files("#upload-form input[name=file]", str(upload))
    await page.click("#upload-form button[type=submit]")
    await page.click("#apply-import")
    await expect(page.locator("#result-counts")).to_contain_text("Created 2")
    await page.click("#import-signup-issue")
    await expect(panel.locator("figure.issued-link")).to_have_count(2)
    for user in ("gwen", "hugo"):
        urls[user] = await panel.get_by_label(f"Signup link of {user}").input_value()
    await page.screenshot(path=str(ARTIFACTS / "signup-links-admin.png"), full_page=True)
    return urls


async def test_signup_links_from_the_console_to_a_softphone_and_the_desktop(
    browser: Browser, daemon: DaemonProcess, contexts: list[BrowserContext], tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with _admin(daemon) as admin:  # carol's mobile softphone, added in the wizard
        assert (await admin.post("/api/site/locations", json=HQ)).status_code == 201
        row = {"model": "mobile", "user": "carol", "location": "HQ"}
        assert (await admin.post("/api/site/devices", json={"devices": [row]})).status_code == 201
    problems: list[str] = []
    urls = await _issue_in_console(
        await _page(browser, contexts, problems), daemon.origin, tmp_path
    )

    carol = await _page(browser, contexts, problems)
    await carol.goto(urls["carol"])
    await expect(carol.locator("#signup-title")).to_have_text("Welcome, Carol Agent")
    await carol.fill("#signup-password", "Password123!")
    await carol.fill("#signup-confirm", "Password123!")
    await carol.click("#password-form button[type=submit]")
    await expect(carol.locator("#password-error")).to_contain_text("too easy to guess")
    await expect(carol.locator("#signup-password")).to_have_attribute("aria-invalid", "true")
    await carol.fill("#signup-password", GOOD)
    await carol.fill("#signup-confirm", GOOD)
    await carol.click("#password-form button[type=submit]")
    await carol.click("#use-mobile")
    await expect(carol.locator("#mobile-qr")).to_have_attribute("src", re.compile("^data:"))
    address = await carol.locator("#mobile-url").text_content()
    assert address and address.startswith(f"{daemon.origin}/softphone/")
    await carol.screenshot(path=str(ARTIFACTS / "signup-mobile.png"))
    async with httpx.AsyncClient() as softphone:  # no cookie: the address's token alone
        xml = await softphone.get(address)
        assert xml.status_code == 200, xml.text
        assert (await softphone.get(address)).status_code == 410  # single use
    ET.fromstring(xml.text)
    account = account_from_linphone(xml.text)
    assert account["server"] == f"127.0.0.1:{daemon.lab.settings.sip_port}"
    await expect(carol.locator("#signup-done")).to_contain_text("has its settings")

    gwen = await _page(browser, contexts, problems)
    await gwen.goto(urls["gwen"])
    await gwen.fill("#signup-password", GOOD)
    await gwen.fill("#signup-confirm", GOOD)
    await gwen.click("#password-form button[type=submit]")
    await gwen.click("#use-desktop")
    await gwen.click("#desktop-link")
    await gwen.fill("#login-username", "gwen")
    await gwen.fill("#login-password", GOOD)
    await gwen.click("#login-form button[type=submit]")
    await expect(gwen.locator("#conn-status")).to_contain_text("Connected")

    again = await _page(browser, contexts, problems)
    await again.goto(urls["carol"])
    await expect(again.locator("#signup-status")).to_contain_text("has been used")
    await again.goto(urls["dave"])
    await expect(again.locator("#signup-status")).to_contain_text("withdrawn")
    assert await again.locator("#password-form").is_hidden()
    assert problems == [], problems
