"""The supervisor console in Chromium (Debian's, driven by Playwright) against the real web app,
store and CRM: the template editor with its live preview, versions, publish and roll back, the
live view over the websocket, and access to one's own groups only.

The PBX side is fed by hand (tests/supervisor/harness.py); pops on the lab with real calls are
tests/e2e/test_supervisor_pops.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from cti.core.events import QueueMemberChanged
from cti.core.updates import CallState
from tests.browser.conftest import ARTIFACTS
from tests.supervisor.harness import Harness, console_server
from tests.supervisor.test_api import call

pytestmark = pytest.mark.browser

SCREEN = {"width": 1500, "height": 940}
SCREENSHOT = ARTIFACTS / "supervisor-editor.png"  # docs/supervisor-console.png is a copy


@dataclass
class Console:
    page: Page
    harness: Harness
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    async def login(self, username: str) -> None:
        """Sign in on the supervisor console; an admin lands on the admin console and follows
        the navigation back."""
        await self.page.goto(f"{self.harness.origin}/supervisor")
        await self.page.fill("#login-username", username)
        await self.page.fill("#login-password", f"pw-{username}")
        await self.page.click("#login-form button[type=submit]")
        if username == "root":
            await expect(self.page).to_have_url(f"{self.harness.origin}/admin")
            await self.page.click("#pages a:text('Supervisor console')")
        await expect(self.page.locator("#tabs")).to_be_visible()

    def preview(self) -> object:
        return self.page.frame_locator("#preview")

    def assert_clean(self) -> None:
        assert self.page_errors == [], self.page_errors
        csp = [m for m in self.console_errors if "Content Security Policy" in m]
        assert csp == [], csp


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with console_server(tmp_path) as running:
        yield running


@pytest.fixture
async def open_console(browser: Browser, harness: Harness) -> AsyncIterator[object]:
    contexts = []

    async def open_page() -> Console:
        context = await browser.new_context(viewport=SCREEN)
        contexts.append(context)
        page = await context.new_page()
        console = Console(page, harness)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                console.console_errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: console.page_errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())
        return console

    yield open_page
    for context in contexts:
        with contextlib.suppress(Exception):
            await context.close()


async def test_editor_preview_syntax_error_publish_and_roll_back(open_console: object) -> None:
    c: Console = await open_console()  # type: ignore[operator]
    page = c.page
    await c.login("sam")
    await expect(page.locator("#group")).to_have_value("Sales")
    # The live preview: the production renderer's output, in a sandboxed frame.
    frame = page.frame_locator("#preview")
    await expect(frame.locator("h2.caller")).to_have_text("Alice Archer")
    await expect(frame.locator("dd.email")).to_have_text("alice@example.com")
    assert await page.locator("#preview").get_attribute("sandbox") == ""

    # The field picker: no template code needed.
    await page.locator("#fields input[data-object=contact][data-field=email]").uncheck()
    await page.locator("#layouts select[data-layout=several]").select_option("expanded")
    await expect(frame.locator("dd.email")).to_have_count(0)
    await page.select_option("#sample", "several")
    await expect(frame.locator("h3.record-name")).to_have_text(["Bob Baker", "Carol Carter"])
    await page.select_option("#sample", "one")
    await page.click("#save")
    await expect(page.locator("#status")).to_have_text("Saved version 1.")
    await page.click("#versions button.publish[data-version='1']")
    await expect(page.locator("#status")).to_contain_text("Version 1 is live")
    assert "layout-expanded" not in c.harness.directory.groups["Sales"].template
    assert '"several": "expanded"' in c.harness.directory.groups["Sales"].template

    # A syntax error: the editor names the line, and the version cannot be published.
    await page.click("#customise")
    broken = '<section class="pop">\n  <h2>{{ call.caller_number }}</h2>\n  {% if %}\n</section>'
    await page.fill("#source", broken)
    await expect(page.locator("#problems li")).to_contain_text("line 3")
    await expect(page.locator("#gutter span.bad")).to_have_text("3")
    await page.fill("#note", "broken on purpose")
    await page.click("#save")
    await expect(page.locator("#status")).to_contain_text("cannot be published")
    await page.click("#versions button.publish[data-version='2']")
    await expect(page.locator("#status")).to_contain_text("line 3")
    await expect(page.locator("#versions tr[data-version='1'] .badge")).to_have_text("live")

    # A good custom template, published; then roll back to version 1.
    good = (
        '<section class="pop custom">\n'
        '  <h2 class="caller">Custom {{ call.caller_number }}</h2>\n'
        "</section>"
    )
    await page.fill("#source", good)
    await expect(frame.locator("h2.caller")).to_have_text("Custom +442079460001")
    await expect(page.locator("#problems li")).to_have_count(0)
    await page.fill("#note", "custom card")
    await page.click("#save")
    await expect(page.locator("#status")).to_have_text("Saved version 3.")
    await page.click("#versions button.publish[data-version='3']")
    await expect(page.locator("#versions tr[data-version='3'] .badge")).to_have_text("live")
    await page.click("#versions tr[data-version='3'] button:text('Diff')")
    await expect(page.locator("#diff .add").filter(has_text="Custom {{ call")).to_have_count(1)
    await page.fill("#number", "+442079460010")  # a real caller: two contacts share it
    await page.click("#lookup")
    await expect(page.locator("#preview-note")).to_contain_text("several match")
    await page.fill("#number", "")
    await page.select_option("#sample", "one")
    await expect(frame.locator("h2.caller")).to_have_text("Custom +442079460001")

    await page.click("#versions tr[data-version='1'] button.rollback")
    await expect(page.locator("#status")).to_contain_text("version 4 (a copy of 1) is live")
    await expect(frame.locator("h2.caller")).to_have_text("Alice Archer")
    await expect(frame.locator("table.cases tr")).to_have_count(4)
    await page.click("#versions tr[data-version='4'] button:text('Diff')")
    await expect(page.locator("#diff .del").filter(has_text="Custom {{ call")).to_have_count(1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))
    assert '"several": "expanded"' in c.harness.directory.groups["Sales"].template
    c.assert_clean()


async def test_the_live_view_updates_over_the_websocket(open_console: object) -> None:
    c: Console = await open_console()  # type: ignore[operator]
    page, h = c.page, c.harness
    await c.login("sam")
    await expect(page.locator("#link")).to_have_text("live: connected")
    await page.click("#tabs button[data-tab=live]")
    h.calls[:] = [
        call("lab:7", answered_at=time.time() - 65),
        call(
            "lab:8",
            state=CallState.QUEUED,
            agent=None,
            answered_at=None,
            started_at=time.time() - 12,
        ),
    ]
    h.console.observe(
        QueueMemberChanged(
            server="lab",
            at=time.time() - 30,
            queue="sales",
            interface="PJSIP/1002",
            member_name="bob",
            paused=True,
            pause_reason="training",
            status=1,
            in_call=False,
        ),
        [],
    )
    h.console.pop_sent({"group": "Sales"})
    agents = page.locator("#agents")
    await expect(agents.locator("tr[data-agent=alice] .state")).to_have_text("on a call")
    await expect(agents.locator("tr[data-agent=bob] .state")).to_have_text("paused (training)")
    await expect(page.locator("#calls tr[data-call='lab:7'] td").nth(4)).to_contain_text("1:0")
    await expect(page.locator("#waiting tr")).to_have_count(1)
    await expect(page.locator("#pops-today")).to_have_text("1")
    h.console.template_failed("Sales", "line 2: the template took longer than 200 ms", "lab:9")
    await expect(page.locator("#failure-banner")).to_contain_text("used the default template")
    await expect(page.locator("#failures li")).to_contain_text("lab:9")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "supervisor-live.png"))
    c.assert_clean()


async def test_a_supervisor_sees_only_their_groups_and_admins_all(open_console: object) -> None:
    sue: Console = await open_console()  # type: ignore[operator]
    await sue.login("sue")
    await expect(sue.page.locator("#group option")).to_have_text(["Support"])
    root: Console = await open_console()  # type: ignore[operator]
    await root.login("root")
    await expect(root.page.locator("#group option")).to_have_text(["Sales", "Support"])
    await root.page.click("#tabs button[data-tab=live]")
    await expect(root.page.locator("#agents tr")).to_have_count(2)  # polled: admins have no /ws
    sue.assert_clean()
    root.assert_clean()
