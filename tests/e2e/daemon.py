"""Run the real daemon (`cti serve`) against the test lab (sip_tests.daemon), and talk to it as
agents do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from sip_tests.daemon import DaemonProcess, free_tcp_port

__all__ = ["AgentClient", "DaemonProcess", "agent", "free_tcp_port"]


@dataclass
class AgentClient:
    """One browser tab of an agent: its session cookie and websocket, and what it received."""

    daemon: DaemonProcess
    username: str
    password: str
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)
    received: list[dict[str, Any]] = field(default_factory=list)
    ws: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None

    async def login(self) -> None:
        async with httpx.AsyncClient(base_url=self.daemon.origin) as http:
            reply = await http.post(
                "/login", json={"username": self.username, "password": self.password}
            )
            reply.raise_for_status()
            self.cookies = reply.cookies

    async def connect(self, last_seq: int | None = None) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.daemon.port}/ws",
            additional_headers={"Cookie": cookie, "Origin": self.daemon.origin},
        )
        await self.send("resume", {"last_seq": last_seq})
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.ws:
                message = json.loads(frame)
                message["received_at"] = time.monotonic()
                self.received.append(message)

    async def send(self, kind: str, data: Mapping[str, object]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": kind, "data": dict(data)}))

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for message in self.received:
                if predicate(message):
                    return message
            await asyncio.sleep(0.01)
        kinds = [m.get("type") for m in self.received]
        raise AssertionError(f"{self.username}: no matching message in {within} s; got {kinds}")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == kind]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader


@contextlib.asynccontextmanager
async def agent(daemon: DaemonProcess, username: str) -> AsyncIterator[AgentClient]:
    client = AgentClient(daemon, username, f"{username}-demo")
    await client.login()
    await client.connect()
    await client.wait_for(lambda m: m["type"] == "hello")
    try:
        yield client
    finally:
        await client.close()
