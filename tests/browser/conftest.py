"""Browser tests: Debian's Chromium driven by Playwright against the real daemon.

The daemon runs as `cti serve` in its own process (tests/e2e/daemon.py), against the lab
Asterisk or, where a test counts AMI actions, against the fake AMI server. Each test gets a
fresh browser; screenshots go to test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Locator, Page, async_playwright

from cti.config import repo_root
from sip_tests.lab import LabHandle
from tests.e2e.daemon import DaemonProcess
from tests.fakes.ami_server import FakeAmiServer, listing, success

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1366, "height": 768}
ARTIFACTS = repo_root() / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def desktop(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """The daemon on the lab, with the demo agents, groups and CRM."""
    process = DaemonProcess(lab, tmp_path_factory.mktemp("desktop"))
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@dataclass
class FakePbx:
    """A daemon whose only Asterisk is the fake AMI server: every action it sends is counted."""

    ami: FakeAmiServer
    daemon: DaemonProcess

    def originates(self) -> list[str]:
        return [a.get("Exten") for a in self.ami.actions("Originate")]


@pytest.fixture
async def fake_pbx(lab: LabHandle, tmp_path: Path) -> AsyncIterator[FakePbx]:
    ami = FakeAmiServer(username="cti", secret="fake-secret")
    ami.on("CoreShowChannels", listing([], "CoreShowChannelsComplete"))
    ami.on("QueueStatus", listing([], "QueueStatusComplete"))
    ami.on("Originate", [success(Message="Originate successfully queued")])
    await ami.start()
    server = {"name": "lab", "port": ami.port, "username": "cti", "secret": "fake-secret"}
    process = DaemonProcess(lab, tmp_path, extra_env={"CTI_SERVERS": json.dumps([server])})
    assert process.cli("seed").returncode == 0
    await asyncio.to_thread(process.start)  # the fake AMI runs on this loop: never block it
    try:
        yield FakePbx(ami, process)
    finally:
        await asyncio.to_thread(process.stop)
        await ami.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class AgentPage:
    """One agent's tab: the page, and everything suspicious it did."""

    page: Page
    origin: str
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    async def login(self, username: str, password: str | None = None) -> None:
        await self.page.goto(f"{self.origin}/agent")
        await self.page.fill("#login-username", username)
        await self.page.fill("#login-password", password or f"{username}-demo")
        await self.page.click("#login-form button[type=submit]")
        await self.connected()

    async def connected(self) -> None:
        await self.page.locator("#conn-status").filter(has_text="Connected").wait_for()

    def card(self, text: str | None = None) -> Locator:
        cards = self.page.locator("article.card")
        return cards.filter(has_text=text) if text else cards

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        await self.page.screenshot(path=str(path))
        return path

    async def pwned(self) -> object:
        return await self.page.evaluate("() => window.__pwned")

    def assert_clean(self) -> None:
        """No dialog opened, no script error, no CSP violation reported."""
        assert self.dialogs == [], self.dialogs
        assert self.page_errors == [], self.page_errors
        violations = [m for m in self.console_errors if "Content Security Policy" in m]
        assert violations == [], violations


@pytest.fixture
async def open_agent(browser: Browser) -> AsyncIterator[object]:
    """Return ``open(origin) -> AgentPage``: a new laptop-sized tab that records dialogs."""
    contexts = []

    async def open_page(origin: str) -> AgentPage:
        context = await browser.new_context(viewport=LAPTOP)
        contexts.append(context)
        page = await context.new_page()
        agent = AgentPage(page, origin)

        async def on_dialog(dialog: Dialog) -> None:
            agent.dialogs.append(f"{dialog.type}: {dialog.message}")
            with contextlib.suppress(Exception):
                await dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                agent.console_errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: agent.page_errors.append(str(exc)))
        return agent

    yield open_page
    for context in contexts:
        await context.close()
