"""Asterisk without its WebRTC modules (issue 15, item 6).

What the page meets, found on the lab's Asterisk 22: with ``res_pjsip_transport_websocket``
unloaded, ``res_http_websocket`` answers the upgrade of ``/ws`` with 400 (no ``sip``
subprotocol); with both unloaded, Asterisk's HTTP server answers it 404. A page's WebSocket
sees neither status (the close is 1006, as for a closed port), so the page asks the same address
over HTTP: an answer means the PBX is there without its WebRTC modules (``no_webrtc``), none
means it cannot be reached (``unreachable``, tests/browser/test_webphone_problems.py). In each
case a carrier call still pops, and once the modules are loaded again the page registers by
itself (JsSIP keeps reconnecting).

The modules are unloaded in this session's own lab instance and loaded again after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from playwright.async_api import Browser

from sip_tests.lab import LabHandle
from sip_tests.sipp import SippProcess
from tests.browser.conftest import Phones
from tests.browser.test_webphone_problems import pops_anyway
from tests.browser.webrtc import agent_tab, contacts, launch, phone_state, until
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]

TRANSPORT = "res_pjsip_transport_websocket.so"
HTTP_WEBSOCKET = "res_http_websocket.so"


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


def loaded(lab: LabHandle) -> str:
    return lab.instance.cli("module show like websocket")


@pytest.fixture
def unload(lab: LabHandle) -> Iterator[Callable[..., None]]:
    """``unload(*modules)``: Asterisk started again without them, as on a PBX whose admin never
    loaded them (unloading them from a running Asterisk 22 now and then took it down, and loading
    them again left it unable to ring browser phones). Later tests get the whole configuration."""

    def run(*modules: str) -> None:
        lab.instance.stop()
        lab.instance.start(without=modules)
        for module in modules:
            assert module not in loaded(lab), loaded(lab)

    yield run
    lab.restart()
    assert TRANSPORT in loaded(lab) and HTTP_WEBSOCKET in loaded(lab), loaded(lab)


@pytest.mark.parametrize(
    "modules",
    [(TRANSPORT,), (TRANSPORT, HTTP_WEBSOCKET)],
    ids=["without-transport-400", "without-both-404"],
)
async def test_an_asterisk_without_webrtc_modules_is_said_and_pops_arrive(
    lab: LabHandle,
    desktop: DaemonProcess,
    webrtc_browser: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
    unload: Callable[..., None],
    modules: tuple[str, ...],
) -> None:
    phones("1001")
    lab.ensure_idle(30)
    unload(*modules)
    alice = await agent_tab(webrtc_browser, desktop)
    page = alice.page
    await page.locator("#phone[data-problem='no_webrtc']").wait_for(
        state="attached", timeout=15_000
    )
    await page.locator("#phone-status", has_text="without its WebRTC modules").wait_for()
    await pops_anyway(alice, lab, sipp_calls)

    for module in reversed(modules):  # the PBX admin loads them: the page registers by itself
        lab.instance.cli(f"module load {module}")
    await phone_state(page, "registered", within_ms=30_000)
    await until(lambda: "1001-webrtc/" in contacts(lab), "Asterisk lists 1001-webrtc's contact")
    assert alice.page_errors == []
