"""The supervisor's listen/whisper/barge controls and the recording player, in Chromium against
the real daemon on the lab (issue 19).

- sam starts listening from the live view: his desk phone (pjsua2 1010) rings, ChanSpy joins
  it to alice's call, the panel follows the mode he switches to, and Leave hangs his phone up;
- a recording plays in the page and seeks: the audio element asks for a byte range (206) and
  its currentTime moves to where it was sent.
"""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request, Response, ViewportSize, expect

from cti.recording import rows
from cti.recording.rows import RecordingRow
from cti.store import Store
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from tests.e2e.daemon import DaemonProcess
from tests.e2e.monitoring_lab import monitor_dir, monitoring_daemon

pytestmark = pytest.mark.browser

CALLER = "+442079460001"
SCREEN: ViewportSize = {"width": 1500, "height": 940}
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("monitoring-ui")) as process:
        yield process


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=SCREEN)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield opened
    await context.close()
    assert errors == [], errors  # no script error, no CSP violation


async def _supervisor(page: Page, daemon: DaemonProcess, tab: str) -> None:
    await page.goto(f"{daemon.origin}/supervisor")
    await page.fill("#login-username", "sam")
    await page.fill("#login-password", "sam-demo")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#group")).to_have_value("Sales")
    await page.click(f"#tabs button[data-tab={tab}]")


async def test_a_supervisor_listens_from_the_live_view(
    lab: LabHandle, phones: Phones, fleet: PhoneFleet, daemon: DaemonProcess, page: Page
) -> None:
    got = phones("1001", "1010")
    got["1001"].set_answer_policy(AutoAnswer(0.3))
    got["1010"].set_answer_policy(AutoAnswer(0.5))
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    await _supervisor(page, daemon, "live")
    call = await asyncio.to_thread(carrier.call, direct_did("1001"))
    await asyncio.to_thread(carrier.wait_state, call, "CONFIRMED", 10)

    listen = page.locator("#calls button[data-monitor=listen]")
    await expect(listen).to_have_count(1, timeout=10_000)
    await listen.click()
    panel = page.locator("#monitor-panel")
    await expect(panel).to_be_visible()
    await expect(panel.locator("[data-mode]")).to_have_attribute("data-mode", "listen")
    spy = await asyncio.to_thread(got["1010"].wait_ringing, 10)
    await asyncio.to_thread(got["1010"].wait_state, spy, "CONFIRMED", 10)
    channels = ""
    for _ in range(50):
        channels = lab.instance.cli("core show channels concise")
        if "ChanSpy" in channels:
            break
        await asyncio.sleep(0.1)
    assert any(
        line.startswith("PJSIP/1010-") and "ChanSpy" in line for line in channels.splitlines()
    ), channels
    await expect(page.locator("#calls td .tag")).to_have_text("you: listen")

    await panel.locator("button[data-switch=whisper]").click()
    await expect(panel.locator("[data-mode]")).to_have_attribute("data-mode", "whisper")
    await panel.locator("button[data-leave]").click()
    await expect(panel).to_be_hidden()
    await asyncio.to_thread(got["1010"].wait_state, spy, "DISCONNECTED", 5)
    await expect(page.locator("#calls button[data-monitor=listen]")).to_have_count(1)
    carrier.hangup(call)


def _tone_file(path: Path, seconds: int) -> None:
    """A 8 kHz 16-bit WAV, as MixMonitor writes: a 440 Hz tone."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = (
            round(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000 * seconds)
        )
        wav.writeframes(struct.pack(f"<{8000 * seconds}h", *frames))


async def test_a_recording_plays_in_the_page_and_seeks(
    lab: LabHandle, daemon: DaemonProcess, page: Page
) -> None:
    key = "rec-browser-seek"
    _tone_file(monitor_dir(lab) / f"{key}.wav", 30)
    store = Store(daemon.store_url)
    try:
        row = RecordingRow(
            key, "call-seek", "lab", "alice", "Sales",
            datetime.now(UTC), datetime.now(UTC), ((5.0, 8.0),), None,
        )  # fmt: skip
        with store.writing("test recording") as conn:
            rows.insert_recording(conn, row)
    finally:
        store.close()
    ranges: list[str] = []
    statuses: list[int] = []

    def on_request(request: Request) -> None:
        if f"/api/recordings/{key}" in request.url and "range" in request.headers:
            ranges.append(request.headers["range"])

    def on_response(response: Response) -> None:
        if f"/api/recordings/{key}" in response.url:
            statuses.append(response.status)

    page.on("request", on_request)
    page.on("response", on_response)
    await _supervisor(page, daemon, "history")
    audio = page.locator(f"audio[data-recording='{key}']")
    await expect(audio).to_have_count(1)
    await expect(page.locator(f"figure[data-recording='{key}'] .tag")).to_have_text(
        "paused 0:05\u20130:08"
    )
    duration = await audio.evaluate(
        """a => new Promise(ok => a.readyState >= 1 ? ok(a.duration)
              : a.addEventListener('loadedmetadata', () => ok(a.duration), {once: true}))"""
    )
    assert 29.5 < duration < 30.5, duration
    moved = await audio.evaluate(
        """a => new Promise(ok => {
              a.addEventListener('seeked', () => ok(a.currentTime), {once: true});
              a.currentTime = 21;
          })"""
    )
    assert 20.5 < moved < 21.5, moved
    await audio.evaluate("a => { a.muted = true; return a.play(); }")
    await page.wait_for_function(
        f"() => document.querySelector(\"audio[data-recording='{key}']\").currentTime > 21.2"
    )
    assert ranges, "the audio element sent no Range request"
    assert 206 in statuses, statuses
