"""The site setup wizard end to end in Chromium, on an empty store and the lab (issue 16, "Done
when"): a location with its emergency address; two numbers, one porting with its letter of
authorisation uploaded; three users from the downloaded template, one fixed in the grid; two
desk phones by MAC; completion writes the configuration and reloads the lab Asterisk, which
then has the users' and the devices' endpoints (``pjsip show endpoints``)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from cti.store import Role, Store
from sip_tests.lab import LabHandle
from tests.browser.conftest import ARTIFACTS, LAPTOP
from tests.e2e.daemon import DaemonProcess

pytestmark = pytest.mark.browser

GENERATED = (
    "pjsip_cti_agents.conf",
    "queues_cti_members.conf",
    "extensions_cti_dids.conf",
    "extensions_cti_emergency.conf",
    "extensions_cti_devices.conf",
)
ADMIN_PASSWORD = "wizard admin pass"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
USERS = (  # username, first, last, email, extension
    ("wanda", "Wanda", "West", "wanda@example.com", "1401"),
    ("xavi", "Xavi", "Xu", "xavi(at)example.com", "1402"),  # fixed in the grid
    ("yara", "Yara", "Young", "yara@example.com", "1403"),
)
DESKS = (("001565aa0401", "yealink-t54w", "wanda"), ("000b82bb0403", "grandstream-grp2614", "yara"))


@pytest.fixture
def empty_site(lab: LabHandle, tmp_path: Path) -> Iterator[DaemonProcess]:
    """The daemon on the lab with an empty store (one admin) that writes the lab's config."""
    etc = lab.instance.directory / "etc"
    env = {
        "CTI_PROVISIONING__CONFIG_DIR": str(etc),
        "CTI_PROVISIONING__SERVER": "lab",
        "CTI_PROVISIONING__ADMIN_USERNAME": "cti-config",
        "CTI_PROVISIONING__ADMIN_SECRET": "cti-config-lab-secret",
        "CTI_PROVISIONING__ENDPOINT_TEMPLATE": "agent-endpoint",
        "CTI_PROVISIONING__AOR_TEMPLATE": "agent-aor",
        "CTI_PROVISIONING__EMERGENCY_TRUNK": "lab-trunk",
        "CTI_PROVISIONING__PHONE_SIP_HOST": "127.0.0.1",
        "CTI_PROVISIONING__PHONE_SIP_PORT": str(lab.settings.sip_port),
    }
    process = DaemonProcess(lab, tmp_path / "daemon", extra_env=env)
    process.start()
    store = Store(process.store_url)
    store.create_agent("root", display_name="Ada Admin", password=ADMIN_PASSWORD, role=Role.ADMIN)
    store.close()
    yield process
    assert process.stop() == 0, process.log_tail()
    for name in GENERATED:  # leave the lab as the other tests expect it
        (etc / name).unlink(missing_ok=True)
    for module in ("res_pjsip.so", "app_queue.so", "pbx_config.so"):
        lab.instance.cli(f"module reload {module}", check=False)


async def _signed_in(browser: Browser, origin: str, problems: list[str]) -> Page:
    viewport = {"width": LAPTOP["width"], "height": LAPTOP["height"]}
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    await page.goto(f"{origin}/admin")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", ADMIN_PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.click("#tabs button[data-tab=site]")
    return page


async def _location(page: Page) -> None:
    form = page.locator("#location-form")
    values = {"name": "HQ", "address.street": "1 Main St", "address.city": "Springfield",
              "address.region": "IL", "address.postal_code": "62701", "address.country": "US",
              "address.floor_room": "3rd floor", "callback": "+1 217 555 0142"}  # fmt: skip
    for name, value in values.items():
        await form.locator(f"[name='{name}']").fill(value)
    await form.get_by_role("button", name="Add location").click()
    await expect(page.locator("#location-rows tr")).to_have_count(1)
    await expect(page.locator("#location-rows")).to_contain_text("+12175550142")
    await page.click("#wizard-next")


async def _numbers(page: Page, tmp_path: Path) -> None:
    form = page.locator("#number-form")
    for number, state in (("+1 217 555 0100", "active"), ("+1 217 555 0101", "porting")):
        await form.locator("[name='0.number']").fill(number)
        await form.locator("[name='0.status']").select_option(state)
        if state == "porting":
            await form.locator("[name='0.due_date']").fill("2027-01-15")
        await form.locator("[name='0.location']").select_option("HQ")
        await form.get_by_role("button", name="Add number").click()
        digits = re.sub(r"\D", "", number)
        await expect(page.locator("#number-rows")).to_contain_text(f"+{digits}")
    letter = tmp_path / "loa.pdf"
    letter.write_bytes(PDF)
    await page.get_by_label("Letter of authorisation for +12175550101").set_input_files(letter)
    await expect(page.locator("#number-rows")).to_contain_text(f"loa.pdf ({len(PDF)} bytes)")
    await page.click("#wizard-next")


async def _users_from_the_template(page: Page, origin: str, tmp_path: Path) -> None:
    await page.get_by_role("button", name="Import users from the template").click()
    template = await page.request.get(f"{origin}/api/admin/agents/template.xlsx")
    book = load_workbook(io.BytesIO(await template.body()))
    sheet = book["agents"]
    for example in book.worksheets:  # the template's example rows (the site is set up above)
        if example.title != "help":
            example.delete_rows(2, example.max_row)
    for username, first, last, email, extension in USERS:
        sheet.append(["create", username, first, last, email, extension, "generate", "", "agent"])
    upload = tmp_path / "users.xlsx"
    book.save(upload)
    await page.set_input_files("#upload-form input[name=file]", str(upload))
    await page.click("#upload-form button[type=submit]")
    await expect(page.locator("#error-list li")).to_have_text([re.compile(r"row 3, email")])
    cell = page.locator("#cell-rows tr[data-row='3'] input[data-key=email]")
    await expect(cell.locator("xpath=..")).to_have_class("bad")
    await cell.fill("xavi@example.com")
    await page.click("#revalidate")
    await expect(page.locator("#change-rows tr")).to_have_count(3)
    await page.click("#apply-import")
    await expect(page.locator("#result-counts")).to_contain_text("Created 3")
    # The wizard resumes at the users step, once it has read the site again (until then the
    # users step rendered before is still in the page, and would be replaced under our typing).
    async with page.expect_response(lambda r: r.url.endswith("/api/site")):
        await page.click("#tabs button[data-tab=site]")
    await expect(page.locator("[aria-current=step]")).to_have_text("3. Users")
    form = page.locator("#user-form")  # and one more, one by one, through the same checks
    for name, value in (("username", "zeno"), ("first_name", "Zeno"), ("last_name", "Zed"),
                        ("email", "zeno@example.com"), ("extension", "99")):  # fmt: skip
        await form.locator(f"[name={name}]").fill(value)
    await form.get_by_role("button", name="Add user").click()
    await expect(form.locator("[name=extension]")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator("[data-error-for=extension]")).to_contain_text("1000")
    await form.locator("[name=extension]").fill("1404")
    await form.get_by_role("button", name="Add user").click()
    await expect(form.locator("[name=username]")).to_have_value("")  # accepted: the form resets
    await page.click("#wizard-next")


async def _devices(page: Page) -> None:
    form = page.locator("#device-form")
    for mac, model, user in DESKS:
        await form.locator("[name='0.model']").select_option(model)
        await form.locator("[name='0.mac']").fill(mac)
        await form.locator("[name='0.user']").fill(user)
        await form.locator("[name='0.location']").select_option("HQ")
        await form.get_by_role("button", name="Add device").click()
        await expect(page.locator("#device-rows")).to_contain_text(mac)
        await expect(page.locator("#device-secret")).to_contain_text(mac)
    await expect(page.locator("#device-rows tr")).to_have_count(2)
    await page.click("#wizard-next")


async def test_the_wizard_sets_up_a_site_on_an_empty_store_and_applies_it_to_the_lab(
    browser: Browser, empty_site: DaemonProcess, lab: LabHandle, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    page = await _signed_in(browser, empty_site.origin, problems)
    await expect(page.locator("[aria-current=step]")).to_have_text("1. Locations")
    await _location(page)
    await _numbers(page, tmp_path)
    await _users_from_the_template(page, empty_site.origin, tmp_path)
    await _devices(page)

    await expect(page.locator("#done-list")).to_contain_text("2 devices")
    await expect(page.locator("#left-list")).to_contain_text("+12175550101 is being ported")
    await expect(page.locator("#left-list")).to_contain_text("2 users have no device: xavi, zeno")
    await page.click("#site-apply")
    await expect(page.locator("#apply-result")).to_contain_text("applied:", timeout=20_000)
    await page.screenshot(path=str(ARTIFACTS / "site-wizard-completion.png"), full_page=True)

    endpoints = lab.instance.cli("pjsip show endpoints")
    for mac, _, _ in DESKS:
        assert f"d{mac}" in endpoints, endpoints
    for *_, extension in (*USERS, ("zeno", "", "", "", "1404")):
        assert re.search(rf"Endpoint:\s+{extension}\b", endpoints), endpoints
    assert problems == [], problems
