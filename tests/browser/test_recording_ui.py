"""Recording in the consoles, in Chromium against the real daemon on the lab (issue 19).

- The Group tab's recording settings hold the announcement callers hear first: set to beep
  with the policy, stored (the API reads it back), shown again after a reload, and kept when
  the form is saved again (the form used to send no announcement, which cleared it).
- The agent's card: with Sales on demand, alice's call shows "Recording paused" with Resume;
  Resume turns it to "Recording" (the row's held span closes), Pause back; while sam listens
  the card says "Supervisor listening", and the notice goes when he leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from tests.e2e.daemon import DaemonProcess
from tests.e2e.monitoring_lab import console, monitoring_daemon

pytestmark = pytest.mark.browser

CALLER = "+442079460001"
SCREEN: ViewportSize = {"width": 1500, "height": 940}
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("recording-ui")) as process:
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


async def _sign_in(page: Page, daemon: DaemonProcess, path: str, user: str) -> None:
    await page.goto(f"{daemon.origin}/{path}")
    await page.fill("#login-username", user)
    await page.fill("#login-password", f"{user}-demo")
    await page.click("#login-form button[type=submit]")


async def _policy(daemon: DaemonProcess) -> dict[str, object]:
    async with console(daemon, "sam") as sam:
        reply = await sam.get("/api/supervisor/recording-policy", params={"group": "Sales"})
        assert reply.status_code == 200, reply.text
        return dict(reply.json())


async def test_the_announcement_is_set_on_the_group_tab_and_kept(
    daemon: DaemonProcess, page: Page
) -> None:
    await _sign_in(page, daemon, "supervisor", "sam")
    await expect(page.locator("#group")).to_have_value("Sales")
    await page.click("#tabs button[data-tab=group-tab]")
    form = page.locator("#recording-form")
    await expect(form).to_be_visible()
    await form.locator("select[name=policy]").select_option("always")
    await form.locator("input[name=announcement]").fill("beep")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#status")).to_contain_text("callers hear beep first")
    assert (await _policy(daemon))["announcement"] == "beep"

    await page.reload()
    await page.click("#tabs button[data-tab=group-tab]")
    await expect(form.locator("input[name=announcement]")).to_have_value("beep")
    await form.locator("input[name=retention_days]").fill("30")  # another change, saved again
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#status")).to_contain_text("kept 30 days")
    saved = await _policy(daemon)
    assert (saved["announcement"], saved["retention_days"]) == ("beep", 30)

    await form.locator("input[name=announcement]").fill("../etc/passwd")  # not a sound name
    valid = await form.evaluate("f => f.checkValidity()")
    assert valid is False  # the browser keeps it from being sent; the server refuses it too
    await form.locator("input[name=announcement]").fill("")
    await form.locator("select[name=policy]").select_option("never")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#status")).to_contain_text("Sales: never")
    assert (await _policy(daemon))["announcement"] == ""


async def test_the_agent_s_card_pauses_resumes_and_tells_of_a_listener(
    lab: LabHandle, phones: Phones, fleet: PhoneFleet, daemon: DaemonProcess, page: Page
) -> None:
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "demand", "tell_agent": True},
        )
        assert policy.status_code == 200, policy.text
    got = phones("1001", "1010")
    got["1001"].set_answer_policy(AutoAnswer(0.3))
    got["1010"].set_answer_policy(AutoAnswer(0.3))
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    await _sign_in(page, daemon, "agent", "alice")
    await page.locator("#conn-status").filter(has_text="Connected").wait_for()
    call = await asyncio.to_thread(carrier.call, direct_did("1001"))
    try:
        card = page.locator("article.card")
        indicator = card.locator(".rec-indicator")
        await expect(indicator.locator(".rec-label")).to_have_text(
            "Recording paused", timeout=15_000
        )
        call_id = await card.first.get_attribute("data-call-id")
        assert call_id
        await indicator.locator("button.rec-toggle").click()  # Resume
        await expect(indicator.locator(".rec-label")).to_have_text("Recording")
        await expect(indicator).to_have_class("rec-indicator rec-on")
        await indicator.locator("button.rec-toggle").click()  # Pause
        await expect(indicator.locator(".rec-label")).to_have_text("Recording paused")

        async with console(daemon, "sam") as sam:
            joined = await sam.post("/api/monitor", json={"call_id": call_id, "mode": "listen"})
            assert joined.status_code == 201, joined.text
            notice = card.locator(".monitor-notice")
            await expect(notice).to_have_text("Supervisor listening")
            left = await sam.delete(f"/api/monitor/{joined.json()['id']}")
            assert left.status_code == 200, left.text
            await expect(notice).to_have_count(0)
        async with console(daemon, "alice") as desk:
            listed = (await desk.get("/api/recordings", params={"call_id": call_id})).json()
        [recording] = listed["recordings"]
        spans = recording["pauses"]
        assert spans[0][0] == 0.0 and spans[0][1] is not None and spans[1][1] is None, spans
    finally:
        carrier.hangup(call)
        await asyncio.to_thread(lab.wait_idle, 15)
        async with console(daemon, "sam") as sam:
            await sam.put(
                "/api/supervisor/recording-policy",
                params={"group": "Sales"},
                json={"policy": "never"},
            )
