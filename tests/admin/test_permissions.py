"""The admin API answers admins only: agents and supervisors get 403, nobody logged in 401."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent_ui.admin import admin_routes
from agent_ui.hub import AgentHub
from agent_ui.web import create_app
from cti.admin.services import AdminServices
from cti.config import HttpSettings, ProvisioningSettings
from cti.metrics import Metrics
from cti.principal import Action, Principal, Role, may
from cti.secretbox import SecretBox
from cti.store import Store

ORIGIN = "http://127.0.0.1:8080"
GETS = [
    "/api/admin/servers",
    "/api/admin/trunks",
    "/api/admin/dids",
    "/api/admin/agents/template.xlsx",
    "/api/admin/agents/export",
    "/api/admin/imports/abc",
    "/api/admin/config",
    "/api/admin/audit",
]
POSTS = [
    ("POST", "/api/admin/servers"),
    ("PUT", "/api/admin/servers/x"),
    ("DELETE", "/api/admin/servers/x"),
    ("POST", "/api/admin/trunks/discover"),
    ("POST", "/api/admin/groups"),
    ("PUT", "/api/admin/dids/123"),
    ("POST", "/api/admin/agents/alice/password"),
    ("POST", "/api/admin/imports"),
    ("POST", "/api/admin/imports/abc/rows"),
    ("POST", "/api/admin/imports/abc/apply"),
    ("POST", "/api/admin/config/apply"),
]


class _Users:
    def verify(self, username: str, password: str) -> Principal | None:
        roles = {"alice": Role.AGENT, "sam": Role.SUPERVISOR, "root": Role.ADMIN}
        return Principal(username, username, roles[username]) if username in roles else None


def _no_messages(*args: object) -> None:
    return None


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.upgrade()

    async def refresh() -> None:
        return None

    admin = AdminServices.build(
        settings=ProvisioningSettings(),
        config_servers=(),
        store=store,
        registry=Metrics().registry,
        sources=[],
        make_source=lambda name, ami: None,  # type: ignore[arg-type,return-value]
        refresh_directory=refresh,
        active_calls=list,
        is_agent_endpoint=lambda ep: False,
        secrets=SecretBox(Fernet.generate_key()),
    )
    app = create_app(
        authenticator=_Users(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=_no_messages,  # type: ignore[arg-type]
        routes=admin_routes(admin),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client
    store.close()


async def _login(client: httpx.AsyncClient, username: str) -> None:
    reply = await client.post("/login", json={"username": username, "password": "pw"})
    assert reply.status_code == 200
    client.headers["X-CTI-CSRF"] = reply.json()["csrf"]
    client.headers["Origin"] = ORIGIN


def test_only_admins_may_administer_the_pbx() -> None:
    for role in Role:
        assert may(Principal("u", "u", role), Action.ADMINISTER_PBX) is (role is Role.ADMIN)


@pytest.mark.parametrize("username", ["alice", "sam"])
async def test_non_admins_get_403_everywhere(app_client: httpx.AsyncClient, username: str) -> None:
    await _login(app_client, username)
    for path in GETS:
        reply = await app_client.get(path)
        assert reply.status_code == 403, path
        assert reply.json()["error"] == "auth.forbidden"
    for method, path in POSTS:
        reply = await app_client.request(method, path, json={})
        assert reply.status_code == 403, (method, path)


async def test_nobody_logged_in_gets_401(app_client: httpx.AsyncClient) -> None:
    for path in GETS:
        assert (await app_client.get(path)).status_code == 401, path


async def test_an_admin_without_the_csrf_token_is_refused(app_client: httpx.AsyncClient) -> None:
    await _login(app_client, "root")
    assert (await app_client.get("/api/admin/servers")).status_code == 200
    del app_client.headers["X-CTI-CSRF"]
    reply = await app_client.post("/api/admin/groups", json={"name": "x"})
    assert reply.status_code == 403 and reply.json()["error"] == "auth.csrf"


async def test_the_page_has_no_inline_script_and_a_strict_csp(
    app_client: httpx.AsyncClient,
) -> None:
    page = await app_client.get("/admin")
    assert page.status_code == 200
    assert "<script>" not in page.text and 'src="/static/admin/app.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await app_client.get("/static/admin/imports.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "textContent" in script.text
    assert (await app_client.get("/static/../web.py")).status_code == 404
