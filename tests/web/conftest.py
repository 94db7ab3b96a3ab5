"""A real uvicorn server on 127.0.0.1 (ephemeral port) serving create_app, and clients for it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.routing import BaseRoute
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from agent_ui.hub import AgentHub, HubLimits
from agent_ui.messages import ActivePop
from agent_ui.policy import WebPolicy
from agent_ui.protocol import Disposition, Notes, Resume, encode_incoming
from agent_ui.server import server_config
from agent_ui.session import SessionCodec
from agent_ui.session_guard import MemorySessions
from agent_ui.tickets import TicketStore
from agent_ui.web import create_app, session_cookie_name
from cti.config import HttpSettings
from cti.errors import CtiError
from cti.principal import Principal, Role

SECRET = SecretStr("test-secret-" + "x" * 40)

USERS = {
    "alice": ("alice-pw", Principal("alice", "Alice Agent", Role.AGENT)),
    "bob": ("bob-pw", Principal("bob", "Bob Agent", Role.AGENT)),
    "sam": ("sam-pw", Principal("sam", "Sam Supervisor", Role.SUPERVISOR)),
    "ada": ("ada-pw", Principal("ada", "Ada Admin", Role.ADMIN)),
}


class MemoryAuthenticator:
    """The Authenticator protocol over a dict (the store implements it for real)."""

    def __init__(self, users: dict[str, tuple[str, Principal]]) -> None:
        self.users = users

    def verify(self, username: str, password: str) -> Principal | None:
        entry = self.users.get(username)
        return entry[1] if entry and entry[0] == password else None


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    """What a test sees of the running daemon front."""

    url: str
    ws_url: str
    origin: str
    hub: AgentHub
    http: HttpSettings
    clock: Clock
    sessions: MemorySessions
    pops: dict[str, list[ActivePop]] = field(default_factory=dict)
    stored: list[tuple[Principal, Notes | Disposition]] = field(default_factory=list)
    refuse_with: CtiError | None = None
    audited: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    @property
    def cookie_name(self) -> str:
        return session_cookie_name(self.http)

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"origin": self.origin, **headers})

    async def login(self, username: str) -> tuple[str, str]:
        """Log in over HTTP; return (cookie value, CSRF token)."""
        async with self.client() as client:
            response = await client.post(
                "/login", json={"username": username, "password": USERS[username][0]}
            )
            assert response.status_code == 200, response.text
            return response.cookies[self.cookie_name], response.json()["csrf"]

    def socket(
        self,
        cookie: str | None = None,
        *,
        origin: str | None = "",
        query: str = "",
        **kwargs: Any,
    ) -> Any:
        """Open /ws (an async context manager); ``origin=""`` means the good origin."""
        headers = {"Cookie": f"{self.cookie_name}={cookie}"} if cookie else {}
        return connect(
            self.ws_url + query,
            origin=Origin(self.origin if origin == "" else origin) if origin is not None else None,
            additional_headers=headers,
            open_timeout=10,
            **kwargs,
        )


async def resume(
    ws: ClientConnection, last_seq: int | None = None, epoch: str | None = None
) -> Any:
    """Send resume; return hello."""
    await ws.send(encode_incoming(Resume(last_seq, epoch)))
    return await recv(ws)


async def recv(ws: ClientConnection, within_s: float = 10.0) -> Any:
    async with asyncio.timeout(within_s):
        return json.loads(await ws.recv())


@asynccontextmanager
async def serve(
    *,
    policy: WebPolicy | None = None,
    limits: HubLimits | None = None,
    secure_cookies: bool = False,
    log_level: str = "warning",
    trusted_proxies: tuple[str, ...] = (),
    routes: Sequence[BaseRoute] = (),
    sessions: MemorySessions | None = None,
    tickets: TicketStore | None = None,
) -> AsyncIterator[Running]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    http = HttpSettings(
        host="127.0.0.1",
        port=port,
        public_origin=origin,
        allowed_origins=(f"http://localhost:{port}",),
        secure_cookies=secure_cookies,
        trusted_proxies=trusted_proxies,
    )
    holder: dict[str, Running] = {}

    def active_pops(agent: str) -> list[ActivePop]:
        return holder["running"].pops.get(agent, [])

    async def on_agent_message(principal: Principal, message: Notes | Disposition) -> None:
        running = holder["running"]
        if running.refuse_with is not None:
            raise running.refuse_with
        running.stored.append((principal, message))

    async def audit(kind: str, details: dict[str, object]) -> None:
        holder["running"].audited.append((kind, details))

    hub = AgentHub(active_pops, limits=limits)
    clock = Clock(1000.0)
    sessions = sessions or MemorySessions()  # shared: several "nodes" know one session
    app = create_app(
        authenticator=MemoryAuthenticator(USERS),
        hub=hub,
        http=http,
        secret=SECRET,
        on_agent_message=on_agent_message,
        policy=policy,
        audit=audit,
        sessions=sessions,
        clock=clock,
        routes=routes,
        tickets=tickets,
    )
    running = Running(f"{origin}", f"ws://127.0.0.1:{port}/ws", origin, hub, http, clock, sessions)
    holder["running"] = running
    server = uvicorn.Server(server_config(app, http, log_level=log_level))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield running
    finally:
        hub.close_all()
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    async with serve() as running:
        yield running


@pytest.fixture
def mint_cookie(server: Running) -> Callable[[Principal], str]:
    """Mint a session cookie the way a login does (same secret, session recorded), without HTTP."""
    codec = SessionCodec(SECRET, max_age_s=3600)

    def mint(principal: Principal) -> str:
        session, value = codec.issue(principal)
        server.sessions.add(session.session_id, session.expires_at, 3600)
        return value

    return mint
