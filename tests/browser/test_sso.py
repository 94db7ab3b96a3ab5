"""Single sign-on end to end (issue 14, item 6): Chromium, the daemon and a real OpenID Connect
provider (npm's oidc-provider, tests/sso/oidc_provider.mjs), all on 127.0.0.1.

Each user signs in through the button on the sign-in card, at the provider's own form, and lands
on the console of the role their provider groups map to; the daemon made their account on the
way. Disabled at the provider, a user's next request is a 401. A provider user whose groups map
to no role is refused, and one named as a local user does not take that account over; each
failed sign-in lands on the sign-in card with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from cti.config import OidcSettings
from cti.store import Role
from tests.browser.conftest import LAPTOP
from tests.security.site import PASSWORD, Site, running_site
from tests.sso.provider import CLIENT_ID, CLIENT_SECRET, Provider, free_port, oidc_provider

pytestmark = pytest.mark.browser

USERS = {
    "olivia": {"name": "Olivia Admin", "groups": ["staff", "cti-admins"]},
    "sven": {"name": "Sven Supervisor", "groups": ["cti-supervisors", "staff"]},
    "nina": {"name": "Nina Nobody", "groups": ["staff"]},
    "root": {"name": "Not The Local Root", "groups": ["cti-admins"]},
}
ROLES = {"cti-admins": "admin", "cti-supervisors": "supervisor", "cti-agents": "agent"}


@pytest.fixture
def provider_port() -> int:
    return free_port()


@pytest.fixture
async def site(tmp_path: Path, provider_port: int) -> AsyncIterator[Site]:
    oidc = OidcSettings(
        issuer=f"http://127.0.0.1:{provider_port}",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        roles=ROLES,
        revalidate_s=0,  # every request asks the provider: "at the next request"
    )
    async with running_site(tmp_path, oidc) as running:
        running.daemon.store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        yield running


@pytest.fixture
def provider(site: Site, provider_port: int, tmp_path: Path) -> Iterator[Provider]:
    callback = f"{site.url}/login/oidc/callback"
    with oidc_provider(provider_port, callback, USERS, tmp_path) as running:
        yield running


async def _sign_in(browser: Browser, site: Site, login: str) -> Page:
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await page.goto(f"{site.url}/agent")
    await page.locator("#login-sso").click()
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("anything")
    await page.locator("button[type=submit]").click()
    await page.locator("button", has_text="Continue").click()  # the provider's consent
    return page


async def _me(page: Page) -> int:
    status = await page.evaluate("async () => (await fetch('/api/me')).status")
    assert isinstance(status, int)
    return status


async def test_provider_groups_map_to_consoles_and_disabling_ends_access(
    browser: Browser, site: Site, provider: Provider
) -> None:
    olivia = await _sign_in(browser, site, "olivia")
    await expect(olivia).to_have_url(f"{site.url}/admin")
    await expect(olivia.locator("#me-role")).to_have_text("admin")
    sven = await _sign_in(browser, site, "sven")
    await expect(sven).to_have_url(f"{site.url}/supervisor")
    await expect(sven.locator("#me-name")).to_have_text("Sven Supervisor")

    made = site.daemon.store.get_agent("olivia")
    assert made is not None and str(made.role) == "admin"
    assert site.daemon.store.verify_password("olivia", "") is None  # no password here

    # Disabled at the provider: the next request is refused, and the page is signed out.
    assert await _me(olivia) == 200
    provider.disable("olivia")
    assert await _me(olivia) == 401
    await olivia.reload()
    await expect(olivia.locator("#login-view")).to_be_visible()
    assert await _me(sven) == 200  # the others go on


async def test_no_mapped_group_is_refused_and_local_accounts_are_not_taken_over(
    browser: Browser, site: Site, provider: Provider
) -> None:
    # A failed sign-in lands on the sign-in card, which says why (not a JSON error page).
    nina = await _sign_in(browser, site, "nina")
    await expect(nina).to_have_url(f"{site.url}/agent")
    await expect(nina.locator("#login-view")).to_be_visible()
    await expect(nina.locator("#login-error")).to_contain_text("Single sign-on failed")
    await expect(nina.locator("#login-error")).to_contain_text("no role here")
    await expect(nina.locator("#login-sso")).to_be_visible()  # try again from there
    assert site.daemon.store.get_agent("nina") is None
    await nina.reload()  # said once: a reload shows a clean card
    await expect(nina.locator("#login-view")).to_be_visible()
    await expect(nina.locator("#login-error")).to_have_text("")
    impostor = await _sign_in(browser, site, "root")
    await expect(impostor.locator("#login-error")).to_contain_text("a local user has that name")
    assert await _me(impostor) == 401
    await site.login("root")  # the local root is untouched


async def test_an_answer_this_browser_did_not_ask_for_shows_the_card(
    browser: Browser, site: Site, provider: Provider
) -> None:
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await page.goto(f"{site.url}/login/oidc/callback?state=forged&code=stolen")
    await expect(page).to_have_url(f"{site.url}/agent")
    await expect(page.locator("#login-error")).to_contain_text("not started in this browser")
    assert await _me(page) == 401
    # the provider's own refusal (the user cancelled there) is said the same way
    await page.goto(f"{site.url}/login/oidc")  # a sign-in this browser started
    await page.goto(f"{site.url}/login/oidc/callback?error=access_denied")
    await expect(page.locator("#login-error")).to_contain_text("refused: access_denied")
