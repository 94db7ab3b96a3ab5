"""Browser tests: Debian's Chromium driven by Playwright against the real daemon.

The daemon runs as `cti serve` in its own process (tests/e2e/daemon.py), against the lab
Asterisk or, where a test counts AMI actions, against the fake AMI server. Each test gets a
fresh browser; screenshots go to test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Locator, Page, async_playwright

from cti.config import repo_root
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
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
DOCS = repo_root() / "docs"


def to_docs(shot: Path, name: str) -> None:
    """Copy a screenshot into docs/ as ``name`` when CTI_DOCS_SCREENSHOTS=1 (the consoles' pictures:
    docs/agent-desktop.png, docs/supervisor-console.png, docs/admin-console.png)."""
    if os.environ.get("CTI_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(shot, DOCS / name)


def seeded(
    lab: LabHandle, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> DaemonProcess:
    """A daemon (not started) whose store holds the demo agents, groups and CRM."""
    process = DaemonProcess(lab, workdir, extra_env=dict(extra_env or {}))
    done = process.cli("seed")
    assert done.returncode == 0, done.stderr
    return process


@pytest.fixture(scope="module")
def desktop(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """The daemon on the lab, with the demo agents, groups and CRM."""
    process = seeded(lab, tmp_path_factory.mktemp("desktop"))
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


@contextlib.asynccontextmanager
async def fake_pbx_daemon(
    lab: LabHandle, workdir: Path, *, public_port: int | None = None
) -> AsyncIterator[FakePbx]:
    """The seeded daemon on the fake AMI server; its public origin on ``public_port`` if given
    (a relay in front of it)."""
    ami = FakeAmiServer(username="cti", secret="fake-secret")
    ami.on("CoreShowChannels", listing([], "CoreShowChannelsComplete"))
    ami.on("QueueStatus", listing([], "QueueStatusComplete"))
    ami.on("Originate", [success(Message="Originate successfully queued")])
    await ami.start()
    server = {"name": "lab", "port": ami.port, "username": "cti", "secret": "fake-secret"}
    env = {"CTI_SERVERS": json.dumps([server])}
    if public_port is not None:
        env["CTI_HTTP__PUBLIC_ORIGIN"] = f"http://127.0.0.1:{public_port}"
    process = seeded(lab, workdir, env)
    await asyncio.to_thread(process.start)  # the fake AMI runs on this loop: never block it
    try:
        yield FakePbx(ami, process)
    finally:
        await asyncio.to_thread(process.stop)
        await ami.stop()


@pytest.fixture
async def fake_pbx(lab: LabHandle, tmp_path: Path) -> AsyncIterator[FakePbx]:
    async with fake_pbx_daemon(lab, tmp_path) as pbx:
        yield pbx


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


OpenAgent = Callable[[str], Awaitable[AgentPage]]
Phones = Callable[..., dict[str, Phone]]
ALICE_NUMBER = "+442079460001"  # demo contact Alice Archer, Globex Corporation


@dataclass
class OnCall:
    """An agent's page with a carrier call answered on her phone and its card on screen."""

    agent: AgentPage
    card: Locator
    call: SippProcess
    phones: dict[str, Phone]


@dataclass
class Desk:
    """What a desktop test on the lab works with: phones, the daemon, pages, carrier calls."""

    lab: LabHandle
    phones: Phones
    daemon: DaemonProcess
    open_agent: OpenAgent
    sipp_calls: list[SippProcess]

    async def agent(self, username: str = "alice") -> AgentPage:
        """A new tab of ``username``, logged in and connected."""
        page = await self.open_agent(self.daemon.origin)
        await page.login(username)
        return page

    def ring(
        self,
        did: str,
        number: str = ALICE_NUMBER,
        name: str = "Alice Archer",
        **options: float,
    ) -> SippProcess:
        """Place a carrier call to ``did`` (stopped after the test)."""
        call = inbound_call(self.lab.sip, did, number, name, **options)
        self.sipp_calls.append(call)
        return call

    async def answered(self, *, hold_s: float, also: tuple[str, ...] = ()) -> OnCall:
        """Alice on a call from Alice Archer that her phone (1001) answered; the phones of
        ``also`` registered too. Every phone answers after 0.3 s."""
        got = self.phones("1001", *also)
        for phone in got.values():
            phone.set_answer_policy(AutoAnswer(0.3))
        alice = await self.agent()
        call = self.ring(direct_did("1001"), hold_s=hold_s)
        card = alice.card("Alice Archer")
        await card.locator(".badge", has_text="On call").wait_for(timeout=15_000)
        return OnCall(alice, card, call, got)


@pytest.fixture
def desk(
    lab: LabHandle,
    phones: Phones,
    desktop: DaemonProcess,
    open_agent: OpenAgent,
    sipp_calls: list[SippProcess],
) -> Desk:
    return Desk(lab, phones, desktop, open_agent, sipp_calls)
