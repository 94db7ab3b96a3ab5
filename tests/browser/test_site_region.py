"""The site's default region in the admin console, on the real daemon (issue 13, item 2).

The admin picks US in the Site setup tab's settings panel; at once, with no restart, an agent's
new contact typed ``(415) 555-0134`` is stored as +14155550134 in the built-in CRM (before, it
was refused: read as a GB number). A supervisor and an agent get 403 and change nothing, and the
change is in the audit history.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, expect
from sqlalchemy import create_engine, text

from cti.store import Store
from tests.browser.conftest import ARTIFACTS, LAPTOP, FakePbx

pytestmark = pytest.mark.browser

CONTACT = {"first_name": "Ursula", "last_name": "Upton", "phone": "(415) 555-0134"}


async def _signed_in(pbx: FakePbx, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=pbx.daemon.origin)
    reply = await client.post("/login", json={"username": username, "password": f"{username}-demo"})
    assert reply.status_code == 200, reply.text
    client.headers.update({"X-CTI-CSRF": reply.json()["csrf"], "Origin": pbx.daemon.origin})
    return client


def _stored_phones(pbx: FakePbx) -> list[str]:
    engine = create_engine(pbx.daemon.store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT p.e164 FROM crm_contact_phones p JOIN crm_contacts c "
                    "ON c.id = p.contact_id WHERE c.last_name = 'Upton'"
                )
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


async def test_an_admin_sets_the_region_and_the_next_contact_is_read_in_it(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    alice = await _signed_in(fake_pbx, "alice")
    refused = await alice.post("/api/crm/contacts", json=CONTACT)
    assert refused.status_code == 422, refused.text  # the lab site's region is GB

    sam = await _signed_in(fake_pbx, "sam")  # a supervisor
    for other in (sam, alice):
        denied = await other.put("/api/admin/site-settings", json={"default_region": "US"})
        assert denied.status_code == 403, denied.text
    await sam.aclose()

    page = await browser.new_page(viewport={"width": LAPTOP["width"], "height": LAPTOP["height"]})
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
    await page.click("#tabs button[data-tab=site]")
    await expect(page.locator("#site-region")).to_have_value("GB")
    await page.select_option("#site-region", "US")
    await page.click("#site-region-form button[type=submit]")
    await expect(page.locator("#site-region-source")).to_have_text(
        "In force: US, chosen here by root."
    )
    await page.screenshot(path=str(ARTIFACTS / "admin-site-region.png"), full_page=True)

    created = await alice.post("/api/crm/contacts", json=CONTACT)
    assert created.status_code == 201, created.text
    assert _stored_phones(fake_pbx) == ["+14155550134"]
    await page.reload()
    await page.click("#tabs button[data-tab=site]")
    await expect(page.locator("#site-region")).to_have_value("US")
    assert problems == []

    store = Store(fake_pbx.daemon.store_url)
    try:
        events = store.events(kind="site.default_region_set")
    finally:
        store.close()
    assert [(e.actor, e.details["to"]) for e in events] == [("root", "US")]
    await alice.aclose()
