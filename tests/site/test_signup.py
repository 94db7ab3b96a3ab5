"""Signup links on the real web app (ASGI) and store: issued with a QR code (for one agent or
every agent of an applied import), listed and revoked; the page, bound to the first browser, a
password by the policy, then the desktop or a mobile softphone: a short-lived single-use download
token, bound to the session, yields the Linphone XML or the plain JSON with the softphone's
account; used once, then refused, as after expiry or revocation; every step audited."""

from __future__ import annotations

import asyncio
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from agent_ui.hub import AgentHub
from agent_ui.signup_api import signup_routes
from agent_ui.site_api import site_routes
from agent_ui.web import create_app
from cti.admin.history import AdminHistory
from cti.admin.provisioning import Provisioning
from cti.config import HttpSettings, ProvisioningSettings
from cti.secretbox import SecretBox
from cti.site.phone_server import PhoneServerSettings
from cti.site.records import devices
from cti.site.service import SiteAdmin
from cti.site.signup import DOWNLOAD_TTL_S, SignupLinks
from cti.store import AgentEndpoint, Store
from cti.store.site_tables import signup_tokens
from tests.site.conftest import ORIGIN, Audit, _Users
from tests.site.test_wizard_api import HQ

NS = "{http://www.linphone.org/xsds/lpconfig.xsd}"
GOOD = "staple horse correct battery"


@dataclass
class Signup:
    app: object
    admin: httpx.AsyncClient
    store: Store
    box: SecretBox
    audit: Audit
    now: list[datetime]
    provisioning: Provisioning

    def browser(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url=ORIGIN)

    async def opened(self, browser: httpx.AsyncClient, link: dict[str, str]) -> str:
        """Open ``link`` in ``browser`` and set the password; return the link's path."""
        path = link["url"].removeprefix(ORIGIN)
        assert (await browser.post(f"{path}/open")).status_code == 200
        assert (await browser.post(f"{path}/password", json={"password": GOOD})).status_code == 200
        return path

    async def issue(self, *users: str, valid_for_s: int = 600) -> list[dict[str, str]]:
        body = {"users": list(users), "valid_for_s": valid_for_s}
        reply = await self.admin.post("/api/site/signup-links", json=body)
        assert reply.status_code == 201, reply.text
        links: list[dict[str, str]] = reply.json()["links"]
        return links


def account_from_linphone(text: str) -> dict[str, str]:
    """The SIP account a Linphone (or a pjsua2 phone set up like one) reads from the XML."""
    root = ET.fromstring(text)
    sections = {
        s.get("name"): {e.get("name"): e.text or "" for e in s.findall(f"{NS}entry")}
        for s in root.findall(f"{NS}section")
    }
    proxy, auth = sections["proxy_0"], sections["auth_info_0"]
    server = proxy["reg_proxy"].removeprefix("<sip:").split(";")[0]
    codecs = [v["mime"] for k, v in sections.items() if str(k).startswith("audio_codec_")]
    return {"user": auth["username"], "password": auth["passwd"], "server": server,
            "transport": proxy["reg_proxy"].split("transport=")[1].rstrip(">"),
            "codecs": ",".join(codecs)}  # fmt: skip


@pytest.fixture
async def signup(tmp_path: Path) -> AsyncIterator[Signup]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.upgrade()
    store.create_agent("ann", display_name="Ann", endpoints=[AgentEndpoint("PJSIP/2001")])
    store.create_agent("ben", display_name="Ben", endpoints=[AgentEndpoint("PJSIP/2002")])
    audit = Audit()
    box = SecretBox(Fernet.generate_key())
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    site = SiteAdmin(store, box, audit, default_region="US")
    phones = PhoneServerSettings("pbx.example.com", 5060, "udp")
    links = SignupLinks(
        store, box, audit, phones, public_origin=ORIGIN, realm="asterisk", clock=lambda: now[0]
    )

    async def refresh() -> None:
        return None

    history = AdminHistory(store)
    provisioning = Provisioning(ProvisioningSettings(), store, history, refresh)
    app = create_app(
        authenticator=_Users(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=lambda *a: None,  # type: ignore[arg-type]
        routes=[
            *site_routes(site),
            *signup_routes(links, secure_cookies=False, imported_users=provisioning.imported_users),
        ],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as admin:
        reply = await admin.post("/login", json={"username": "root", "password": "pw"})
        admin.headers.update({"X-CTI-CSRF": reply.json()["csrf"], "Origin": ORIGIN})
        await admin.post("/api/site/locations", json=HQ)
        row = {"model": "mobile", "user": "ann", "location": "HQ"}
        added = await admin.post("/api/site/devices", json={"devices": [row]})
        assert added.status_code == 201, added.text
        yield Signup(app, admin, store, box, audit, now, provisioning)
    await provisioning.close()
    store.close()


async def test_a_link_works_once_in_the_browser_that_opened_it(signup: Signup) -> None:
    (link,) = await signup.issue("ann")
    assert link["qr_svg"].startswith("<svg") and link["url"].startswith(f"{ORIGIN}/signup/")
    assert link["qr"].startswith("data:image/svg+xml")
    token = link["url"].rsplit("/", 1)[1]
    with signup.store.reading("t") as conn:
        stored = conn.execute(select(signup_tokens.c.token_hash)).scalar()
    assert stored == hashlib.sha256(token.encode()).hexdigest()  # only the hash is kept
    path = f"/signup/{token}"
    async with signup.browser() as phone, signup.browser() as other:
        page = await phone.get(path)  # the page itself binds nothing (a link preview is harmless)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["referrer-policy"] == "no-referrer" and "set-cookie" not in page.headers
        opened = await phone.post(f"{path}/open")
        assert opened.status_code == 200 and opened.json()["user"] == "ann"
        assert "httponly" in opened.headers["set-cookie"].lower()
        stolen = await other.post(f"{path}/open")
        assert stolen.status_code == 403 and stolen.json()["error"] == "signup.other_session"
        early = await phone.post(f"{path}/device/mobile")
        assert early.status_code == 409  # the password comes first
        for weak, rule in (("short", "length"), ("ann-is-my-name-1", "username"),
                           ("Password123!", "common"), ("aaaaaaaaaaaaaaaa", "common")):  # fmt: skip
            refused = await phone.post(f"{path}/password", json={"password": weak})
            assert refused.status_code == 422 and refused.json()["details"]["rule"] == rule
        assert signup.store.verify_password("ann", GOOD) is None
        done = await phone.post(f"{path}/password", json={"password": GOOD})
        assert done.status_code == 200
        assert signup.store.verify_password("ann", GOOD) is not None
        assert (await other.post(f"{path}/device/mobile")).status_code == 403
        offer = (await phone.post(f"{path}/device/mobile")).json()
        assert offer["qr"].startswith("data:image/svg+xml")
        assert (await phone.get(f"{path}/state")).json()["password_set"] is True
    async with signup.browser() as linphone:  # the softphone: no cookie, the URL's token only
        xml = await linphone.get(offer["urls"]["linphone"].removeprefix(ORIGIN))
        assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
        twice = await linphone.get(offer["urls"]["linphone"].removeprefix(ORIGIN))
        assert twice.status_code == 410 and twice.json()["details"]["reason"] == "used"
    account = account_from_linphone(xml.text)
    (mobile,) = devices(signup.store)
    assert account == {"user": mobile.endpoint, "password": signup.box.open(mobile.sip_secret),
                       "server": "pbx.example.com:5060", "transport": "udp",
                       "codecs": "PCMU,PCMA"}  # fmt: skip
    async with signup.browser() as phone:
        again = await phone.post(f"{path}/open")
        assert again.status_code == 410 and again.json()["details"]["reason"] == "used"
    with signup.store.reading("t") as conn:
        hashes = conn.execute(select(signup_tokens.c.download_hash)).scalar()
    download = offer["urls"]["json"].split("/")[-2]
    assert hashes == hashlib.sha256(download.encode()).hexdigest()  # hashed too
    kinds = signup.audit.kinds()
    steps = ("issued", "opened", "password_refused", "password_set", "download_issued",
             "configured", "refused")  # fmt: skip
    for step in steps:
        assert f"site.signup_{step}" in kinds, step


async def test_the_download_token_is_short_lived_and_replaced_by_a_new_one(signup: Signup) -> None:
    (link,) = await signup.issue("ann", valid_for_s=3600)
    async with signup.browser() as browser:
        path = await signup.opened(browser, link)
        first = (await browser.post(f"{path}/device/mobile")).json()
        signup.now[0] += timedelta(seconds=DOWNLOAD_TTL_S + 1)
        late = await browser.get(first["urls"]["linphone"].removeprefix(ORIGIN))
        assert late.status_code == 410 and late.json()["details"]["reason"] == "download_expired"
        second = (await browser.post(f"{path}/device/mobile")).json()
        third = (await browser.post(f"{path}/device/mobile")).json()
    async with signup.browser() as phone:
        replaced = await phone.get(second["urls"]["json"].removeprefix(ORIGIN))
        assert replaced.status_code == 404  # a new code replaces the last
        fetched = await phone.get(third["urls"]["json"].removeprefix(ORIGIN))
        assert fetched.status_code == 200
        body = json.loads(fetched.text)
    assert body["account"]["username"].startswith("d") and body["account"]["extension"] == "2001"
    assert body["transport"] == {"protocol": "udp", "host": "pbx.example.com", "port": 5060}
    assert body["codecs"] == ["PCMU", "PCMA"]
    unknown = await signup.admin.get("/softphone/" + "y" * 43 + "/linphone.xml")
    assert unknown.status_code == 404


async def test_the_desktop_spends_the_link(signup: Signup) -> None:
    (link,) = await signup.issue("ben")  # ben has no mobile softphone
    async with signup.browser() as browser:
        path = await signup.opened(browser, link)
        none = await browser.post(f"{path}/device/mobile")
        assert none.status_code == 409 and none.json()["details"]["field"] == "device"
        desktop = await browser.post(f"{path}/device/desktop")
        assert desktop.json() == {"next": "/agent", "user": "ben"}
        gone = await browser.get(f"{path}/state")
        assert gone.status_code == 410 and gone.json()["details"]["reason"] == "used"
    listed = (await signup.admin.get("/api/site/signup-links")).json()["links"]
    assert [(x["user"], x["state"]) for x in listed] == [("ben", "used")]


async def test_expired_and_revoked_links_are_refused(signup: Signup) -> None:
    first, second = await signup.issue("ann", "ben", valid_for_s=3600)
    signup.now[0] += timedelta(seconds=3601)
    async with signup.browser() as browser:
        expired = await browser.post(first["url"].removeprefix(ORIGIN) + "/open")
        assert expired.status_code == 410 and expired.json()["details"]["reason"] == "expired"
    signup.now[0] -= timedelta(seconds=3601)
    revoked = await signup.admin.delete(f"/api/site/signup-links/{second['id']}")
    assert revoked.status_code == 200
    again = await signup.admin.delete(f"/api/site/signup-links/{second['id']}")
    assert again.status_code == 404
    async with signup.browser() as browser:
        gone = await browser.post(second["url"].removeprefix(ORIGIN) + "/open")
        assert gone.status_code == 410 and gone.json()["details"]["reason"] == "revoked"
    unknown = await signup.admin.post("/signup/" + "x" * 43 + "/open")
    assert unknown.status_code == 404
    listed = (await signup.admin.get("/api/site/signup-links")).json()["links"]
    assert {x["user"]: x["state"] for x in listed} == {"ann": "issued", "ben": "revoked"}
    assert all("url" not in x and "token" not in json.dumps(x) for x in listed)


async def test_a_revoked_link_kills_its_softphone_download(signup: Signup) -> None:
    (link,) = await signup.issue("ann")
    async with signup.browser() as browser:
        path = await signup.opened(browser, link)
        offer = (await browser.post(f"{path}/device/mobile")).json()
    await signup.admin.delete(f"/api/site/signup-links/{link['id']}")
    async with signup.browser() as phone:
        refused = await phone.get(offer["urls"]["linphone"].removeprefix(ORIGIN))
    assert refused.status_code == 410 and refused.json()["details"]["reason"] == "revoked"


async def test_links_for_every_agent_of_an_applied_import(signup: Signup) -> None:
    csv = (
        b"action,username,first name,last name,email,extension,endpoint secret,groups,role,"
        b"salesforce user\n"
        b"create,cat,Cat,Carter,cat@example.com,2101,generate,,agent,\n"
        b"create,dan,Dan,Dorsey,dan@example.com,2102,generate,,agent,\n"
    )
    session = await signup.provisioning.upload(csv, "new.csv", "root")
    assert session.plan.ok, session.plan.errors
    body = {"import": session.id, "valid_for_s": 600}
    early = await signup.admin.post("/api/site/signup-links", json=body)
    assert early.status_code == 409 and early.json()["details"]["field"] == "import"
    applying = await signup.provisioning.apply(session.id, "root")
    for _ in range(200):  # the apply runs as the service's task
        if signup.provisioning.status(applying.id, "root")["state"] != "applying":
            break
        await asyncio.sleep(0.05)
    body["import"] = applying.id
    issued = await signup.admin.post("/api/site/signup-links", json=body)
    assert issued.status_code == 201, issued.text
    assert sorted(x["user"] for x in issued.json()["links"]) == ["cat", "dan"]
    other = await signup.admin.post(
        "/api/site/signup-links", json={"import": "nope", "valid_for_s": 600}
    )
    assert other.status_code == 404


async def test_issuing_checks_users_and_validity_and_needs_an_admin(signup: Signup) -> None:
    bad = await signup.admin.post(
        "/api/site/signup-links", json={"users": ["ann", "nobody"], "valid_for_s": 600}
    )
    assert bad.status_code == 404 and bad.json()["details"]["users"] == ["nobody"]
    with signup.store.reading("t") as conn:
        assert conn.execute(select(signup_tokens.c.id)).first() is None  # none of them
    short = await signup.admin.post(
        "/api/site/signup-links", json={"users": ["ann"], "valid_for_s": 5}
    )
    assert short.status_code == 422 and short.json()["details"]["field"] == "valid_for_s"
    async with signup.browser() as anonymous:
        refused = await anonymous.post(
            "/api/site/signup-links", json={"users": ["ann"], "valid_for_s": 600}
        )
        assert refused.status_code in (401, 403)
        listing = await anonymous.get("/api/site/signup-links")
        assert listing.status_code == 401
