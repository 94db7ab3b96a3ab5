"""Each role lands on its own console after signing in, sees the same navigation in every page
it may open, and the daemon sends it home from the pages it may not. Also the screenshots of
the supervisor and admin consoles for docs/ (CTI_DOCS_SCREENSHOTS=1 copies them there).

The daemon is the seeded one on the fake AMI server (tests/browser/conftest.py).
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS, LAPTOP, FakePbx, to_docs

pytestmark = pytest.mark.browser

DESKTOP, SUPERVISOR, ADMIN = "Agent desktop", "Supervisor console", "PBX admin"
NAV = {"alice": [DESKTOP], "sam": [DESKTOP, SUPERVISOR], "root": [DESKTOP, SUPERVISOR, ADMIN]}
HOME = {"alice": "/agent", "sam": "/supervisor", "root": "/admin"}
SHOT_SIZE = {"width": 1280, "height": 800}


async def _signed_in(browser: Browser, origin: str, username: str) -> tuple[Page, list[str]]:
    """A new tab that signs ``username`` in on the agent desktop (where ``/`` leads)."""
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(f"{origin}/")
    await expect(page).to_have_url(f"{origin}/agent")
    await page.fill("#login-username", username)
    await page.fill("#login-password", f"{username}-demo")
    await page.click("#login-form button[type=submit]")
    await expect(page).to_have_url(f"{origin}{HOME[username]}")
    return page, problems


async def _nav(page: Page, username: str) -> None:
    links = page.locator("#pages a")
    await expect(links).to_have_text(NAV[username])
    await expect(page.locator("#pages a[aria-current=page]")).to_have_count(1)


async def test_each_role_lands_on_its_console_and_moves_between_its_pages(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    origin = fake_pbx.daemon.origin
    for username in ("alice", "sam", "root"):
        page, problems = await _signed_in(browser, origin, username)
        await _nav(page, username)
        # Every page the role may open shows the same navigation, reached from it by keyboard.
        for title in NAV[username]:
            link = page.locator("#pages a", has_text=title)
            await link.focus()
            await page.keyboard.press("Enter")
            await expect(page.locator("#pages a[aria-current=page]")).to_have_text(title)
            await _nav(page, username)
        # A page the role may not open sends it home; so does the bare origin.
        for path in ("/agent", "/supervisor", "/admin"):
            await page.goto(f"{origin}{path}")
            title = {"/agent": DESKTOP, "/supervisor": SUPERVISOR, "/admin": ADMIN}[path]
            allowed = title in NAV[username]
            await expect(page).to_have_url(f"{origin}{path if allowed else HOME[username]}")
        await page.goto(f"{origin}/")
        await expect(page).to_have_url(f"{origin}{HOME[username]}")
        assert problems == [], problems
        await page.context.close()


async def test_screenshots_of_the_supervisor_and_admin_consoles(
    browser: Browser, fake_pbx: FakePbx
) -> None:
    """The consoles as docs/ shows them (the desktop's is test_desktop's, during a call)."""
    origin = fake_pbx.daemon.origin
    page, problems = await _signed_in(browser, origin, "root")
    await page.set_viewport_size(SHOT_SIZE)
    await page.click("#tabs button[data-tab=dids]")
    await expect(page.locator("#did-rows tr").first).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "admin-console.png"))
    to_docs(ARTIFACTS / "admin-console.png", "admin-console.png")

    await page.click("#pages a:text('Supervisor console')")
    await expect(page.locator("#group")).to_have_value("Sales")
    await expect(page.frame_locator("#preview").locator("h2.caller")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "supervisor-console.png"))
    to_docs(ARTIFACTS / "supervisor-console.png", "supervisor-console.png")
    assert problems == [], problems
    await page.context.close()
