"""The site's default region (issue 13, item 2): an admin chooses it in the admin console, it
is stored and audited, and the CRM API, the built-in CRM and dial rules read it at once.

Before, the region was the configuration file's alone: ``(415) 555-0134`` typed on a site whose
file said nothing was refused (read as a GB number), whatever the site's admin wanted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.routing import Route

from agent_ui.crm_api import CrmApi
from agent_ui.hub import AgentHub
from agent_ui.site_settings_api import site_settings_routes
from agent_ui.web import create_app
from crm_connectors.builtin import BuiltinCrm
from crm_connectors.builtin import upgrade as crm_upgrade
from cti.config import DialSettings, HttpSettings
from cti.dial_rules import DialRules
from cti.errors import PermissionDenied, ValidationFailed
from cti.numbers import default_region_warning
from cti.principal import Principal, Role
from cti.site_settings import SiteSettings
from cti.store import Store

ORIGIN = "http://127.0.0.1:8080"
ROLES = {"alice": Role.AGENT, "sue": Role.SUPERVISOR, "root": Role.ADMIN}


async def _never(call_id: str) -> bool:
    return False


async def _never_shown(agent: str, call_id: str) -> bool:
    return False


class _Users:
    def verify(self, username: str, password: str) -> Principal | None:
        role = ROLES.get(username)
        return Principal(username, username, role) if role else None


@dataclass
class Site:
    url: str
    store: Store
    settings: SiteSettings
    crm: BuiltinCrm
    client: httpx.AsyncClient

    async def login(self, username: str) -> None:
        self.client.cookies.clear()
        reply = await self.client.post("/login", json={"username": username, "password": "pw"})
        assert reply.status_code == 200
        self.client.headers["X-CTI-CSRF"] = reply.json()["csrf"]
        self.client.headers["Origin"] = ORIGIN

    async def new_contact(self, phone: str) -> httpx.Response:
        body = {"first_name": "Ursula", "last_name": "Upton", "phone": phone}
        return await self.client.post("/api/crm/contacts", json=body)

    async def set_region(self, region: object) -> httpx.Response:
        return await self.client.put("/api/admin/site-settings", json={"default_region": region})


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    store = Store(url)
    store.upgrade()
    crm_upgrade(url)
    # The file said nothing: the built-in GB, as on a fresh install.
    settings = SiteSettings(store, "GB", configured_by_site=False)
    await settings.load()
    crm = BuiltinCrm.from_url(url, default_region=settings)
    api = CrmApi(crm, settings, _never, _never_shown)
    app = create_app(
        authenticator=_Users(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=lambda *a: None,  # type: ignore[arg-type]
        routes=[
            *site_settings_routes(settings),
            Route("/api/crm/contacts", api.create_contact, methods=["POST"]),
        ],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield Site(url, store, settings, crm, client)
    await crm.close()
    store.close()


async def test_an_admin_sets_us_and_a_national_us_number_is_stored_as_such(site: Site) -> None:
    await site.login("alice")
    refused = await site.new_contact("(415) 555-0134")
    assert refused.status_code == 422  # read as a GB number: not valid
    await site.login("root")
    shown = await site.client.get("/api/admin/site-settings")
    assert shown.status_code == 200
    assert (shown.json()["default_region"], shown.json()["source"]) == ("GB", "built-in")
    assert {"code": "US", "calling_code": 1} in shown.json()["regions"]

    changed = await site.set_region("us")
    assert changed.status_code == 200
    assert changed.json()["default_region"] == "US"
    assert (changed.json()["source"], changed.json()["updated_by"]) == ("stored", "root")

    await site.login("alice")
    created = await site.new_contact("(415) 555-0134")
    assert created.status_code == 201
    assert [p["number"] for p in created.json()["contact"]["phones"]] == ["+14155550134"]
    # The built-in CRM reads it too: a national caller id of the new region finds her.
    found = await site.crm.lookup("(415) 555-0134")
    assert found.e164 == "+14155550134"
    assert [m.display_name for m in found.matches] == ["Ursula Upton"]
    events = site.store.events(kind="site.default_region_set")
    assert [(e.actor, e.details) for e in events] == [("root", {"from": "GB", "to": "US"})]


@pytest.mark.parametrize("who", ["alice", "sue"])
async def test_an_agent_or_a_supervisor_cannot_change_it(site: Site, who: str) -> None:
    await site.login(who)
    assert (await site.client.get("/api/admin/site-settings")).status_code == 403
    refused = await site.set_region("US")
    assert refused.status_code == 403
    assert refused.json()["error"] == "auth.forbidden"
    assert site.settings.default_region() == "GB"
    assert site.store.events(kind="site.default_region_set") == []
    again = SiteSettings(site.store, "GB", configured_by_site=False)
    assert (await again.load()).source == "built-in"  # nothing stored


@pytest.mark.parametrize("bad", ["ZZ", "USA", "", 1, None, "u s"])
async def test_a_region_that_is_no_country_is_refused_and_nothing_stored(
    site: Site, bad: object
) -> None:
    await site.login("root")
    refused = await site.set_region(bad)
    assert refused.status_code == 422
    assert refused.json()["details"]["field"] == "default_region"
    assert site.settings.default_region() == "GB"
    assert site.store.events(kind="site.default_region_set") == []


async def test_a_stored_region_outlives_a_restart_and_counts_as_chosen(site: Site) -> None:
    root = Principal("root", "root", Role.ADMIN)
    await site.settings.set_default_region(root, "US")
    restarted = SiteSettings(site.store, "GB", configured_by_site=False)
    choice = await restarted.load()
    assert (choice.region, choice.source, choice.updated_by) == ("US", "stored", "root")
    assert default_region_warning(choice.region, choice.chosen) is None
    fresh = SiteSettings(site.store, "GB", configured_by_site=False)
    assert fresh.region.chosen is False  # before load: the built-in default, warned about
    assert default_region_warning(fresh.region.region, fresh.region.chosen) is not None
    configured = SiteSettings(site.store, "FR", configured_by_site=True)
    assert (configured.default_region(), configured.region.chosen) == ("FR", True)


async def test_the_service_refuses_a_non_admin_itself(site: Site) -> None:
    with pytest.raises(PermissionDenied):
        await site.settings.set_default_region(Principal("sue", "sue", Role.SUPERVISOR), "US")
    with pytest.raises(ValidationFailed):
        site.settings.set_default_region_sync("XX", "setup")


async def test_dial_rules_read_the_region_in_force(site: Site) -> None:
    rules = DialRules(DialSettings(allow_international=False), site.settings)
    assert rules.check("020 7946 0958").number == "+442079460958"
    await site.settings.set_default_region(Principal("root", "root", Role.ADMIN), "US")
    assert rules.check("(415) 555-0134").number == "+14155550134"
    with pytest.raises(Exception, match="international"):
        rules.check("+44 20 7946 0958")  # home is now the US
