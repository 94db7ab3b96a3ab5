"""The site API on the real web app (ASGI), a real SQLite store, an admin and an agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent_ui.hub import AgentHub
from agent_ui.site_api import site_routes
from agent_ui.web import create_app
from cti.config import HttpSettings
from cti.principal import Principal, Role
from cti.secretbox import SecretBox
from cti.site.service import SiteAdmin
from cti.store import AgentEndpoint, Store

ORIGIN = "http://127.0.0.1:8080"


class _Users:
    def verify(self, username: str, password: str) -> Principal | None:
        roles = {"alice": Role.AGENT, "root": Role.ADMIN}
        return Principal(username, username, roles[username]) if username in roles else None


@dataclass
class Audit:
    events: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)

    def __call__(self, kind: str, details: dict[str, Any], actor: str | None) -> None:
        self.events.append((kind, details, actor))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


@dataclass
class Site:
    client: httpx.AsyncClient
    store: Store
    audit: Audit
    service: SiteAdmin

    async def login(self, username: str = "root") -> None:
        reply = await self.client.post("/login", json={"username": username, "password": "pw"})
        assert reply.status_code == 200
        self.client.headers["X-CTI-CSRF"] = reply.json()["csrf"]
        self.client.headers["Origin"] = ORIGIN


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.upgrade()
    for name, ext in (("ann", "2001"), ("ben", "2002")):
        store.create_agent(
            name, display_name=name.title(), endpoints=[AgentEndpoint(f"PJSIP/{ext}")]
        )
    audit = Audit()
    service = SiteAdmin(store, SecretBox(Fernet.generate_key()), audit, default_region="US")
    app = create_app(
        authenticator=_Users(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=lambda *a: None,  # type: ignore[arg-type]
        routes=site_routes(service),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield Site(client, store, audit, service)
    store.close()
