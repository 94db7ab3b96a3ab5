"""The PBX refuses the browser phone's registration (issue 15, item 6).

The case a site meets: the admin console stored a new SIP secret for alice (its HA1 digest in
``agent_profiles``) that Asterisk does not have yet (the generated configuration was not
applied). The daemon hands the page that digest; the lab Asterisk answers the REGISTER with a
challenge the page cannot meet, and refuses it. The page says so in the phone panel, Asterisk
lists no contact for ``1001-webrtc`` and logs the failed authentication, and a carrier call
still pops.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser
from sqlalchemy import insert, select

from cti.store import Store
from cti.store.models import agent_profiles, agents
from sip_tests.lab import LabHandle
from sip_tests.sipp import SippProcess
from tests.browser.conftest import Phones, seeded
from tests.browser.test_webphone_problems import pops_anyway
from tests.browser.webrtc import agent_tab, contacts, launch, phone_state, until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.webrtc]

REALM = "asterisk"  # [provisioning] sip_realm's default, and Asterisk's own default realm


@pytest.fixture
async def webrtc_browser() -> AsyncIterator[Browser]:
    async for chromium in launch():
        yield chromium


def store_a_secret_the_pbx_lacks(store_url: str, username: str, extension: str) -> None:
    """Give ``username`` a provisioned profile whose SIP digest is not the lab's secret."""
    ha1 = hashlib.md5(f"{extension}:{REALM}:not-the-pbx-secret".encode()).hexdigest()
    store = Store(store_url)
    try:
        with store.writing("test.profile") as conn:
            key = conn.execute(select(agents.c.id).where(agents.c.username == username)).scalar()
            conn.execute(
                insert(agent_profiles).values(
                    agent_id=key,
                    extension=extension,
                    sip_digest=f"MD5:{ha1}",
                    updated_at=datetime.now(UTC),
                )
            )
    finally:
        store.close()


async def test_a_refused_registration_is_said_and_pops_arrive(
    lab: LabHandle,
    tmp_path: Path,
    webrtc_browser: Browser,
    phones: Phones,
    sipp_calls: list[SippProcess],
) -> None:
    phones("1001")
    log = lab.instance.log_files()[0]
    seen = len(log.read_text(errors="replace"))
    process = seeded(lab, tmp_path)
    store_a_secret_the_pbx_lacks(process.store_url, "alice", "1001")
    process.start()
    try:
        alice = await agent_tab(webrtc_browser, process)
        page = alice.page
        await phone_state(page, "problem", within_ms=15_000)
        await page.locator("#phone[data-problem='refused']").wait_for(state="attached")
        await page.locator("#phone-status", has_text="refused the browser phone").wait_for()
        # Asterisk's side: it refused the REGISTER, and holds no contact for the browser phone.
        refused = re.compile(
            r"Request 'REGISTER' from '[^']*1001-webrtc@[^']*' failed .*authenticate"
        )
        await until(
            lambda: bool(refused.search(log.read_text(errors="replace")[seen:])),
            "Asterisk logs the failed REGISTER of 1001-webrtc",
        )
        assert "1001-webrtc/" not in contacts(lab)
        await pops_anyway(alice, lab, sipp_calls)
        assert alice.page_errors == []
    finally:
        assert process.stop() == 0, process.log_tail()
