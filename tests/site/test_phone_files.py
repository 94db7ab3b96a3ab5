"""Desk phones' configuration files on the real web app (ASGI) and store: each model's file parses
and carries the device's SIP account, only for a request that proves it is that device (HTTP
digest or a secret path); wrong secrets, other devices' files, floods and plain HTTP where HTTPS
is required are refused, and every fetch is audited."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent_ui.hub import AgentHub
from agent_ui.phone_files_api import phone_file_routes
from agent_ui.site_api import site_routes
from agent_ui.web import create_app
from cti.config import HttpSettings
from cti.secretbox import SecretBox
from cti.site.catalog import model_for
from cti.site.phone_files import PhoneAccount, render_phone_file
from cti.site.phone_server import PhoneFileServer, PhoneServerSettings
from cti.site.records import find_device
from cti.site.service import SiteAdmin
from cti.store import AgentEndpoint, Store
from tests.site.conftest import ORIGIN, Audit, _Users
from tests.site.test_wizard_api import HQ

DEVICES = {  # mac -> (model, the file its phones ask for)
    "001565000001": ("yealink-t54w", "001565000001.cfg"),
    "0004f2000002": ("polycom-vvx450", "0004F2000002.cfg"),
    "000b82000003": ("grandstream-grp2614", "cfg000b82000003.xml"),
    "000413000004": ("snom-d785", "000413000004.xml"),
    "0c383e000005": ("fanvil-x6u", "0c383e000005.cfg"),
}
HOSTILE = 'Ann & <Co> "Q" \'s'


@dataclass
class Provisioning:
    client: httpx.AsyncClient
    store: Store
    box: SecretBox
    audit: Audit
    secrets: dict[str, str]

    def refused(self) -> list[dict[str, object]]:
        return [d for kind, d, _ in self.audit.events if kind == "site.phone_file_refused"]

    def served(self) -> list[dict[str, object]]:
        return [d for kind, d, _ in self.audit.events if kind == "site.phone_file_served"]


async def _provisioning(
    tmp_path: Path, settings: PhoneServerSettings, clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[Provisioning]:
    store = Store(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    store.upgrade()
    store.create_agent("ann", display_name=HOSTILE, endpoints=[AgentEndpoint("PJSIP/2001")])
    audit = Audit()
    box = SecretBox(Fernet.generate_key())
    site = SiteAdmin(store, box, audit, default_region="US")
    files = PhoneFileServer(
        store, box, audit, settings, provision_realm=site.provision_realm, clock=clock
    )
    app = create_app(
        authenticator=_Users(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=lambda *a: None,  # type: ignore[arg-type]
        routes=[*site_routes(site), *phone_file_routes(files)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        reply = await client.post("/login", json={"username": "root", "password": "pw"})
        headers = {"X-CTI-CSRF": reply.json()["csrf"], "Origin": ORIGIN}
        await client.post("/api/site/locations", json=HQ, headers=headers)
        rows = [
            {"mac": mac, "model": model, "user": "ann", "location": "HQ"}
            for mac, (model, _) in DEVICES.items()
        ]
        added = await client.post("/api/site/devices", json={"devices": rows}, headers=headers)
        assert added.status_code == 201, added.text
        shown = {d["mac"]: d["provisioning_secret"] for d in added.json()["devices"]}
        client.cookies.clear()
        yield Provisioning(client, store, box, audit, shown)
    store.close()


@pytest.fixture
async def prov(tmp_path: Path) -> AsyncIterator[Provisioning]:
    settings = PhoneServerSettings("pbx.example.com", 5062, "tcp")
    async for value in _provisioning(tmp_path, settings):
        yield value


def parse_account(text: str, model: str) -> dict[str, str]:
    """The SIP account a phone of ``model`` reads from its file (as the e2e phone is set up)."""
    if model.startswith(("yealink", "fanvil")):
        sep = "=" if model.startswith("yealink") else ":"
        pairs = dict(
            (k.strip(), v.strip())
            for k, _, v in (line.partition(sep) for line in text.splitlines()[1:])
            if v
        )
        if model.startswith("yealink"):
            keys = ("user_name", "auth_name", "password", "sip_server.1.address")
            user, auth, password, host = (pairs[f"account.1.{k}"] for k in keys)
            port, name = pairs["account.1.sip_server.1.port"], pairs["account.1.display_name"]
        else:
            user, auth = pairs["SIP1 Phone Number"], pairs["SIP1 Register User"]
            password, host = pairs["SIP1 Register Pswd"], pairs["SIP1 Register Addr"]
            port, name = pairs["SIP1 Register Port"], pairs["SIP1 Display Name"]
        return {"user": user, "auth": auth, "password": password, "server": f"{host}:{port}",
                "name": name}  # fmt: skip
    root = ET.fromstring(text)
    if model.startswith("polycom"):
        reg = root.find("reg")
        assert reg is not None
        a = reg.attrib
        server = f"{a['reg.1.server.1.address']}:{a['reg.1.server.1.port']}"
        return {"user": a["reg.1.address"], "auth": a["reg.1.auth.userId"], "server": server,
                "password": a["reg.1.auth.password"], "name": a["reg.1.displayName"]}  # fmt: skip
    if model.startswith("grandstream"):
        p = {child.tag: child.text or "" for child in root.iter()}
        return {"user": p["P35"], "auth": p["P36"], "password": p["P34"], "server": p["P47"],
                "name": p["P3"]}  # fmt: skip
    s = {child.tag: child.text or "" for child in root.iter()}
    return {"user": s["user_name"], "auth": s["user_pname"], "password": s["user_pass"],
            "server": s["user_host"].split(";")[0], "name": s["user_realname"]}  # fmt: skip


async def test_each_model_gets_its_file_with_the_device_account(prov: Provisioning) -> None:
    for mac, (model, name) in DEVICES.items():
        auth = httpx.DigestAuth(mac, prov.secrets[mac])
        reply = await prov.client.get(f"/provisioning/{name}", auth=auth)
        assert reply.status_code == 200, (model, reply.text)
        assert reply.headers["cache-control"] == "no-store"
        account = parse_account(reply.text, model)
        device = find_device(prov.store, mac)
        assert device is not None
        assert account == {
            "user": f"d{mac}",
            "auth": f"d{mac}",
            "password": prov.box.open(device.sip_secret),
            "server": "pbx.example.com:5062",
            "name": HOSTILE,  # escaped in XML, as typed in .cfg: the parser reads it back
        }, model
    assert [d["mac"] for d in prov.served()] == list(DEVICES)
    assert prov.refused() == []


async def test_a_wrong_secret_is_challenged_again_and_audited(prov: Provisioning) -> None:
    bare = await prov.client.get("/provisioning/001565000001.cfg")
    assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Digest ")
    assert prov.refused() == []  # the first leg of every digest exchange
    wrong = httpx.DigestAuth("001565000001", "not-the-secret")
    reply = await prov.client.get("/provisioning/001565000001.cfg", auth=wrong)
    assert reply.status_code == 401
    assert reply.json()["error"] == "provisioning.unauthenticated"
    assert "password" not in reply.text and "account." not in reply.text
    (refusal,) = prov.refused()
    assert refusal["reason"] == "bad_credentials" and refusal["mac"] == "001565000001"
    assert refusal["client"] == "127.0.0.1"


async def test_a_device_cannot_fetch_another_devices_file(prov: Provisioning) -> None:
    mine = httpx.DigestAuth("001565000001", prov.secrets["001565000001"])
    reply = await prov.client.get("/provisioning/0c383e000005.cfg", auth=mine)
    assert reply.status_code == 404 and "Register" not in reply.text
    (refusal,) = prov.refused()
    assert refusal == {
        "file": "0c383e000005.cfg",
        "client": "127.0.0.1",
        "reason": "other_device",
        "mac": "0c383e000005",
        "user": "001565000001",
    }


async def test_the_secret_path_serves_only_with_the_right_secret(prov: Provisioning) -> None:
    secret = prov.secrets["000b82000003"]
    reply = await prov.client.get(f"/provisioning/s/{secret}/cfg000b82000003.xml")
    assert reply.status_code == 200 and "<P35>d000b82000003</P35>" in reply.text
    assert prov.served()[-1]["via"] == "path"
    other = prov.secrets["001565000001"]
    refused = await prov.client.get(f"/provisioning/s/{other}/cfg000b82000003.xml")
    assert refused.status_code == 404
    assert [r["reason"] for r in prov.refused()] == ["bad_secret"]
    unknown = await prov.client.get(f"/provisioning/s/{secret}/cfg000b82999999.xml")
    assert unknown.status_code == 404
    names = await prov.client.get(f"/provisioning/s/{secret}/passwd")
    assert names.status_code == 404
    assert [r["reason"] for r in prov.refused()] == ["bad_secret"] * 2 + ["unknown_file"]


async def test_repeated_failures_lock_the_device_file_and_floods_are_limited(
    tmp_path: Path,
) -> None:
    settings = PhoneServerSettings("pbx", fetches_per_minute=7, failures_per_hour=3)
    async for prov in _provisioning(tmp_path, settings):
        for _ in range(3):
            wrong = httpx.DigestAuth("001565000001", "guess")
            reply = await prov.client.get("/provisioning/001565000001.cfg", auth=wrong)
            assert reply.status_code == 401
        right = httpx.DigestAuth("001565000001", prov.secrets["001565000001"])
        locked = await prov.client.get("/provisioning/001565000001.cfg", auth=right)
        assert locked.status_code == 429 and locked.headers["retry-after"] == "3600"
        # 7 requests from this address so far (3 digest exchanges of 2, and the locked one's
        # first): the 8th is refused whatever it asks.
        flood = await prov.client.get("/provisioning/0c383e000005.cfg")
        assert flood.status_code == 429 and flood.json()["error"] == "rate_limited"
        reasons = [r["reason"] for r in prov.refused()]
        assert reasons == ["bad_credentials"] * 3 + ["too_many_failures", "rate_limited"]


async def test_https_only_refuses_plain_http(tmp_path: Path) -> None:
    settings = PhoneServerSettings("pbx", https_only=True)
    async for prov in _provisioning(tmp_path, settings):
        secret = prov.secrets["001565000001"]
        reply = await prov.client.get(f"/provisioning/s/{secret}/001565000001.cfg")
        assert reply.status_code == 403
        assert reply.json()["error"] == "provisioning.https_required"
        assert [r["reason"] for r in prov.refused()] == ["not_https"]


def test_values_cannot_add_lines_to_a_key_value_file() -> None:
    model = model_for("yealink-t54w")
    assert model is not None
    fields = dict(
        mac="001565000001", model="Yealink T54W", username="ann", label="2001",
        sip_user="d1", auth_user="d1", password="p", server_host="h", server_port=5060,
        transport="udp",
    )  # fmt: skip
    with pytest.raises(Exception, match="display_name: holds a control character"):
        PhoneAccount(display_name="Ann\naccount.1.sip_server.1.address = evil", **fields)  # type: ignore[arg-type]
    text = render_phone_file(model, PhoneAccount(display_name="Ann", **fields))  # type: ignore[arg-type]
    assert "account.1.sip_server.1.address = h\n" in text
