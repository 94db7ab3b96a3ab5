"""A real web app with the supervisor console on a real store and CRM (SQLite), served by
uvicorn on loopback, for the API and browser tests. The PBX side is fed by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from argon2 import PasswordHasher
from pydantic import SecretStr

from agent_ui.hub import AgentHub
from agent_ui.notifier import Notifier
from agent_ui.protocol import Disposition, Notes
from agent_ui.server import server_config
from agent_ui.supervisor import supervisor_routes
from agent_ui.web import create_app, session_cookie_name
from crm_connectors.builtin import BuiltinCrm, seed_demo
from crm_connectors.builtin import upgrade as upgrade_crm
from cti.config import HttpSettings
from cti.core.updates import CallView
from cti.pop.directory import Directory
from cti.principal import Principal
from cti.services import StoreAuthenticator, build_directory
from cti.store import GroupSpec, Store
from cti.supervision.console import SupervisorConsole
from tests.security.site import http_of, loopback_socket

SECRET = SecretStr("supervisor-test-secret-" + "y" * 40)
PASSWORD = "pw-{}"
AGENTS = (
    ("alice", "Alice Agent", "agent", "PJSIP/1001"),
    ("bob", "Bob Agent", "agent", "PJSIP/1002"),
    ("carol", "Carol Agent", "agent", "PJSIP/1003"),
    ("sam", "Sam Supervisor", "supervisor", None),
    ("sue", "Sue Supervisor", "supervisor", None),
    ("root", "Ada Admin", "admin", None),
)
GROUPS = (
    GroupSpec(
        name="Sales",
        members=("alice", "bob"),
        supervisors=("sam",),
        dids=("442079460100",),
        queues=("sales",),
    ),
    GroupSpec(
        name="Support",
        members=("carol",),
        supervisors=("sam", "sue"),
        dids=("442079460200",),
        queues=("support",),
        wrapup_seconds=15,
    ),
)


@dataclass
class Harness:
    origin: str
    store: Store
    console: SupervisorConsole
    hub: AgentHub
    http: HttpSettings
    calls: list[CallView] = field(default_factory=list)
    directory: Directory = field(default_factory=Directory)
    refreshes: int = 0

    async def client(self, username: str) -> httpx.AsyncClient:
        """An HTTP client logged in as ``username``, sending the CSRF token and origin."""
        client = httpx.AsyncClient(base_url=self.origin, headers={"origin": self.origin})
        reply = await client.post(
            "/login", json={"username": username, "password": PASSWORD.format(username)}
        )
        assert reply.status_code == 200, reply.text
        client.headers["x-cti-csrf"] = reply.json()["csrf"]
        return client

    @property
    def cookie_name(self) -> str:
        return session_cookie_name(self.http)

    async def refresh_directory(self) -> None:
        owners = await self.store.aio.run(self.store.endpoint_owners)
        groups = await self.store.aio.run(self.store.groups)
        self.directory = build_directory(owners, groups)
        self.refreshes += 1


def make_store(path: Path) -> Store:
    store = Store(
        f"sqlite:///{path}",
        password_hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1),
    )
    store.upgrade()
    for username, name, role, endpoint in AGENTS:
        store.create_agent(
            username,
            password=PASSWORD.format(username),
            display_name=name,
            role=role,
            endpoints=[endpoint] if endpoint else [],
        )
    for spec in GROUPS:
        store.create_group(spec)
    return store


async def _no_messages(principal: Principal, message: Notes | Disposition) -> None:
    del principal, message


@asynccontextmanager
async def console_server(workdir: Path, *, tick_s: float = 0.1) -> AsyncIterator[Harness]:
    """Serve the app with the supervisor console on 127.0.0.1 (an ephemeral port)."""
    path = workdir / "cti.sqlite3"
    store = await asyncio.to_thread(make_store, path)
    url = f"sqlite:///{path}"
    await asyncio.to_thread(upgrade_crm, url)
    await asyncio.to_thread(seed_demo, url, "GB")
    sock = loopback_socket()
    http = http_of(sock)
    hub = AgentHub(lambda agent: [])
    async with BuiltinCrm.from_url(url, default_region="GB") as crm:
        holder: dict[str, Harness] = {}

        async def refresh() -> None:
            await holder["h"].refresh_directory()

        console = SupervisorConsole(
            store=store,
            notifier=Notifier(hub),
            crm=crm,
            directory=lambda: holder["h"].directory,
            calls=lambda: holder["h"].calls,
            refresh_directory=refresh,
            default_region="GB",
            tick_s=tick_s,
            groups_every_s=0.5,
        )
        harness = Harness(http.public_origin, store, console, hub, http)
        holder["h"] = harness
        await harness.refresh_directory()
        app = create_app(
            authenticator=StoreAuthenticator(store),
            hub=hub,
            http=http,
            secret=SECRET,
            on_agent_message=_no_messages,
            routes=supervisor_routes(console),
        )
        server = uvicorn.Server(server_config(app, http, log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await console.start()
        try:
            while not server.started:
                assert not task.done(), "uvicorn did not start"
                await asyncio.sleep(0.01)
            yield harness
        finally:
            await console.close()
            hub.close_all()
            server.should_exit = True
            await task
            sock.close()
            await asyncio.to_thread(store.close)


def names(rows: Sequence[dict[str, object]]) -> list[object]:
    return [row["name"] for row in rows]
