"""A whole daemon (no PBX) served by uvicorn on 127.0.0.1, with its store, for security tests.

``running_site`` builds :class:`cti.daemon.Daemon` from settings pointing at a temporary state
directory, starts it and serves ``Daemon.build_app()``: every route the product serves, the
store's session book, the real admin services. Leaving the block stops it; entering it again
with the same directory is a restart (same store, same session secret).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from agent_ui.protocol import Resume, encode_incoming
from agent_ui.server import server_config
from agent_ui.web import session_cookie_name
from cti.config import HttpSettings, OidcSettings, Settings, StoreSettings
from cti.daemon import Daemon

PASSWORD = "a-long-enough-password"


@dataclass
class Site:
    url: str
    ws_url: str
    daemon: Daemon
    http: HttpSettings

    @property
    def cookie_name(self) -> str:
        return session_cookie_name(self.http)

    def client(self, cookie: str | None = None, csrf: str | None = None) -> httpx.AsyncClient:
        headers = {"origin": self.url}
        if csrf:
            headers["x-cti-csrf"] = csrf
        cookies = {self.cookie_name: cookie} if cookie else None
        return httpx.AsyncClient(base_url=self.url, headers=headers, cookies=cookies)

    async def login(self, username: str, password: str = PASSWORD) -> tuple[str, str]:
        """Log in over HTTP; return (cookie value, CSRF token)."""
        async with self.client() as client:
            reply = await client.post("/login", json={"username": username, "password": password})
            assert reply.status_code == 200, reply.text
            return reply.cookies[self.cookie_name], reply.json()["csrf"]

    async def status(self, cookie: str, path: str = "/api/me") -> int:
        async with self.client(cookie) as client:
            return (await client.get(path)).status_code

    @asynccontextmanager
    async def socket(self, cookie: str) -> AsyncIterator[ClientConnection]:
        """An agent websocket on ``cookie``, resumed (hello and snapshot read)."""
        async with connect(
            self.ws_url,
            origin=Origin(self.url),
            additional_headers={"Cookie": f"{self.cookie_name}={cookie}"},
            open_timeout=10,
        ) as ws:
            await ws.send(encode_incoming(Resume(None, None)))
            assert json.loads(await ws.recv())["type"] == "hello"
            yield ws


async def close_code(ws: ClientConnection, within_s: float = 10.0) -> int | None:
    """Read until the server closes ``ws``; return its close code."""
    try:
        async with asyncio.timeout(within_s):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def site_settings(
    workdir: Path, port: int, oidc: OidcSettings | None = None, **http: Any
) -> Settings:
    origin = f"http://127.0.0.1:{port}"
    return Settings(
        state_dir=workdir / "state",
        store=StoreSettings(url=f"sqlite:///{workdir}/state/cti.sqlite3"),
        http=HttpSettings(host="127.0.0.1", port=port, public_origin=origin, **http),
        oidc=oidc or OidcSettings(),
    )


def loopback_socket(backlog: int = 128) -> socket.socket:
    """A socket listening on a free loopback port, for :func:`served`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


def http_of(sock: socket.socket, **http: Any) -> HttpSettings:
    """The HTTP settings of a daemon served on ``sock`` (its own origin public)."""
    port = sock.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    return HttpSettings(host="127.0.0.1", port=port, public_origin=origin, **http)


@asynccontextmanager
async def running_site(
    workdir: Path, oidc: OidcSettings | None = None, **http: Any
) -> AsyncIterator[Site]:
    sock = loopback_socket()
    settings = site_settings(workdir, sock.getsockname()[1], oidc, **http)  # no PBX there
    try:
        daemon = Daemon(settings)
    except BaseException:
        sock.close()
        raise
    async with served(daemon, sock, settings.http) as site:
        yield site


@asynccontextmanager
async def served(daemon: Daemon, sock: socket.socket, http: HttpSettings) -> AsyncIterator[Site]:
    """Start ``daemon`` and serve its app on the listening ``sock``; drain, stop, close it all
    when the block ends (the socket too)."""
    port = sock.getsockname()[1]
    await daemon.start()
    server = uvicorn.Server(server_config(daemon.build_app(), http, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield Site(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", daemon, http)
    finally:
        await daemon.drain()
        server.should_exit = True
        await task
        sock.close()
        await daemon.close()
