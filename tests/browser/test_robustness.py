"""The desktop keeps working through network trouble, and without a mouse.

The browser reaches the daemon through a TCP relay the test can cut: the page must show the
banner, reconnect by itself and resume where it was (replaying what it missed). The daemon runs
on the fake AMI server; nothing here needs a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from sip_tests.lab import LabHandle
from tests.browser.conftest import AgentPage, FakePbx
from tests.e2e.daemon import DaemonProcess, free_tcp_port
from tests.fakes.ami_server import FakeAmiServer, listing, success

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

OpenAgent = Callable[[str], Awaitable[AgentPage]]


class TcpRelay:
    """127.0.0.1:port -> the daemon; :meth:`cut` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, port: int) -> None:
        self.target_port, self.port = target_port, port
        self.refusing = False
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        self.refusing = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def relayed(lab: LabHandle, tmp_path: Path) -> AsyncIterator[tuple[FakePbx, TcpRelay]]:
    """A daemon on the fake AMI whose public origin is a relay the test can cut."""
    ami = FakeAmiServer(username="cti", secret="fake-secret")
    ami.on("CoreShowChannels", listing([], "CoreShowChannelsComplete"))
    ami.on("QueueStatus", listing([], "QueueStatusComplete"))
    ami.on("Originate", [success(Message="Originate successfully queued")])
    await ami.start()
    server = {"name": "lab", "port": ami.port, "username": "cti", "secret": "fake-secret"}
    relay_port = free_tcp_port()
    daemon = DaemonProcess(
        lab,
        tmp_path,
        extra_env={
            "CTI_SERVERS": json.dumps([server]),
            "CTI_HTTP__PUBLIC_ORIGIN": f"http://127.0.0.1:{relay_port}",
        },
    )
    assert daemon.cli("seed").returncode == 0
    await asyncio.to_thread(daemon.start)
    relay = TcpRelay(daemon.port, relay_port)
    await relay.start()
    try:
        yield FakePbx(ami, daemon), relay
    finally:
        await relay.close()
        await asyncio.to_thread(daemon.stop)
        await ami.stop()


async def test_a_lost_connection_shows_a_banner_then_resumes_with_what_was_missed(
    relayed: tuple[FakePbx, TcpRelay], open_agent: OpenAgent
) -> None:
    pbx, relay = relayed
    alice = await open_agent(f"http://127.0.0.1:{relay.port}")
    await alice.login("alice")
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "snapshot"
    await alice.page.locator("#state-pill", has_text="Ready").wait_for()

    relay.cut()
    banner = alice.page.locator("#banner")
    await banner.filter(has_text="Connection to the CTI server lost").wait_for()
    await alice.page.locator("#conn-status", has_text="Reconnecting").wait_for()

    # Meanwhile her state changes (from another device): a stream message she must not miss.
    async with httpx.AsyncClient(base_url=pbx.daemon.origin) as other:
        login = await other.post("/login", json={"username": "alice", "password": "alice-demo"})
        paused = await other.post(
            "/api/agent/state",
            json={"state": "paused", "reason": "Training"},
            headers={"X-CTI-CSRF": login.json()["csrf"]},
        )
        assert paused.status_code == 200, paused.text

    relay.restore()
    await alice.connected()
    await banner.wait_for(state="hidden")
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "replay"
    await alice.page.locator("#state-pill", has_text="Paused · Training").wait_for()
    alice.assert_clean()


async def test_a_daemon_restart_is_survived_with_a_fresh_snapshot(
    fake_pbx: FakePbx, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    await alice.login("alice")
    await asyncio.to_thread(fake_pbx.daemon.stop)
    await alice.page.locator("#banner", has_text="reconnecting").wait_for()
    await asyncio.to_thread(fake_pbx.daemon.start)  # same port, store and session secret
    await alice.connected()
    assert await alice.page.evaluate("() => document.body.dataset.resume") == "snapshot"
    await alice.page.locator("#banner").wait_for(state="hidden")
    alice.assert_clean()


async def test_the_desktop_works_from_the_keyboard(
    fake_pbx: FakePbx, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    page = alice.page
    await page.goto(f"{fake_pbx.daemon.origin}/agent")
    await page.locator("#login-username").wait_for()
    assert await page.evaluate("() => document.activeElement.id") == "login-username"
    await alice.screenshot("login.png")
    await page.keyboard.type("alice")
    await page.keyboard.press("Tab")
    await page.keyboard.type("alice-demo")
    await page.keyboard.press("Enter")
    await alice.connected()
    await alice.screenshot("idle.png")

    await page.keyboard.press("/")  # jump to search
    assert await page.evaluate("() => document.activeElement.id") == "search-q"
    await page.keyboard.type("Archer")
    await page.keyboard.press("Enter")
    first_number = page.locator("#search-results button.dial").first
    await first_number.wait_for()
    for _ in range(10):  # Tab through the result to its first number
        await page.keyboard.press("Tab")
        if await first_number.evaluate("(el) => el === document.activeElement"):
            break
    assert await first_number.evaluate("(el) => el === document.activeElement")
    await page.keyboard.press("Enter")
    await page.locator(".toast", has_text="pick up your phone").wait_for()
    assert fake_pbx.originates() == ["+442079460001"]

    await page.keyboard.press("Shift+Tab")  # the focus ring is visible where the focus is
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).boxShadow")
    assert outline != "none"
    alice.assert_clean()
