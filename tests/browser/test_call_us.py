"""The example customer page ``/examples/call-us`` in Chromium against the real daemon on the
lab: the customer asks for a number, the page shows it with a countdown (the API key never
reaches the browser), SIPp calls it from the customer's number, and the page learns the call was
matched; a second request while the pool's one number is held gets the API's 503 with its
wait; a malformed phone number marks the field."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Response, expect

from cti.access_numbers.service import AccessNumbers
from cti.access_numbers.values import AccessNumber, PoolSpec
from cti.store import GroupSpec, Store
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer
from sip_tests.sipp import SippProcess, inbound_call
from tests.browser.conftest import ARTIFACTS, LAPTOP, seeded
from tests.e2e.daemon import DaemonProcess
from tests.e2e.test_pipeline import Phones

pytestmark = pytest.mark.browser

CUSTOMER = "+442079460001"  # Alice Archer in the demo CRM
DID = direct_did("1001")


async def _pool_and_key(store_url: str) -> str:
    store = Store(store_url)
    access = AccessNumbers(store, default_region="GB")
    try:
        store.create_group(GroupSpec(name="App", dids=(DID,)))
        await access.create_pool(PoolSpec(name="web", numbers=(AccessNumber(DID, "+" + DID),)), "t")
        _, key = await access.issue_key("example shop", ["web"], 60, "t")
    finally:
        await access.close()
        store.close()
    return key


@pytest.fixture
def shop(lab: LabHandle, tmp_path: Path) -> Iterator[tuple[DaemonProcess, str]]:
    """The seeded daemon whose example page holds a key of pool "web" (one number)."""
    process = seeded(lab, tmp_path)
    key = asyncio.run(_pool_and_key(process.store_url))
    process.extra_env = {**process.extra_env, "CTI_EXAMPLES__CALL_US_KEY": key}
    process.start()
    yield process, key
    assert process.stop() == 0, process.log_tail()


async def test_the_customer_gets_a_number_calls_it_and_the_page_sees_the_match(
    browser: Browser,
    shop: tuple[DaemonProcess, str],
    lab: LabHandle,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    daemon, key = shop
    page = await browser.new_page(viewport={"width": LAPTOP["width"], "height": LAPTOP["height"]})
    problems: list[str] = []
    bodies: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)  # a refused request is an answer; CSP is not

    async def seen(response: Response) -> None:
        if "/examples/call-us/" in response.url:
            bodies.append(await response.text())

    page.on("console", console)
    page.on("response", seen)
    await page.goto(f"{daemon.origin}/examples/call-us")
    await page.fill("#ask input[name=phone]", "call me")
    await page.click("#ask button[type=submit]")
    await expect(page.locator("#ask input[name=phone]")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("[data-error-for=phone]")).to_contain_text("not a phone number")

    await page.fill("#ask input[name=who]", "Alice Archer")
    await page.fill("#ask input[name=phone]", "020 7946 0001")
    await page.select_option("#ask select[name=intent]", "refund")
    await page.fill("#ask input[name=order]", "A-1042")
    await page.click("#ask button[type=submit]")
    await expect(page.locator("#number")).to_have_text("020 7946 1001")
    await expect(page.locator("#number")).to_have_attribute("href", "tel:+" + DID)
    await expect(page.locator("#countdown")).to_contain_text(
        "Reserved for you for 1:5"  # 120 s, counting down
    )
    await page.screenshot(path=str(ARTIFACTS / "call-us.png"), full_page=True)

    got = phones("1001")
    got["1001"].set_answer_policy(AutoAnswer(0.3))
    call = inbound_call(lab.sip, DID, CUSTOMER, "Alice Archer", hold_s=1.0)
    sipp_calls.append(call)
    await expect(page.locator("#state")).to_contain_text("You are through", timeout=20_000)
    await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)

    # The match consumed the reservation, so the pool's one number is free again: another
    # customer gets it; the same customer asking again cannot share it with themselves (the
    # call could not be told apart) and gets the API's 503 with its wait.
    second = await browser.new_page()
    await second.goto(f"{daemon.origin}/examples/call-us")
    await second.fill("#ask input[name=phone]", "+447700900123")
    await second.click("#ask button[type=submit]")
    await expect(second.locator("#number")).to_have_text("020 7946 1001")
    third = await browser.new_page()
    await third.goto(f"{daemon.origin}/examples/call-us")
    await third.fill("#ask input[name=phone]", "+447700900123")
    await third.click("#ask button[type=submit]")
    await expect(third.locator("#problem")).to_contain_text("try again later (in about")
    assert await third.locator("#reserved").is_hidden()

    assert bodies, "the page never called its backend"
    assert not any(key in body for body in bodies)  # the key stays on the server
    assert key not in await page.content()
    assert problems == []
