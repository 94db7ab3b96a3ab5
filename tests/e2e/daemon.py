"""Run the real daemon (`cti serve`) against the test lab, and talk to it as agents do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from sip_tests.lab import LabHandle


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DaemonProcess:
    """A `cti serve` subprocess with its own store, state and HTTP port."""

    lab: LabHandle
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_tcp_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.workdir / 'cti.sqlite3'}"

    def env(self) -> dict[str, str]:
        s = self.lab.settings
        server = {
            "name": "lab",
            "port": s.ami_port,
            "username": s.ami_username,
            "secret": s.ami_secret.get_secret_value(),
            "reconnect_base_s": 0.2,
            "reconnect_cap_s": 1.0,
        }
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("CTI_")},
            "CTI_SERVERS": json.dumps([server]),
            "CTI_STORE__URL": self.store_url,
            "CTI_STATE_DIR": str(self.workdir / "state"),
            "CTI_HTTP__PORT": str(self.port),
            "CTI_HTTP__PUBLIC_ORIGIN": self.origin,
            "CTI_CRM__LOOKUP_TIMEOUT_MS": "300",
            "CTI_LOG_FORMAT": "json",
            **self.extra_env,
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cti.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "daemon.log").open("ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cti.cli", "serve"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cti serve exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"cti serve not healthy after {timeout_s} s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"cti serve ignored signal {sig}: {self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "daemon.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


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
