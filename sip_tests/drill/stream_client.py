"""An agent tab for drills: resumes like the desktop does and checks every ``seq`` it applies.

It follows docs/protocol.md section 4 the way ``agent_ui/static/agent/socket.js`` does: it keeps
``last_seq`` and the ``epoch``, sends ``resume`` on every (re)connect, pings every
``ping_s`` and gives a connection up when no ``pong`` comes within ``pong_within_s`` (a black
hole sends no FIN, so nothing else would tell it), and reconnects with a short backoff. What it
applies is kept for the drill to compare: every stream message as ``(seq, type, call_id)``, the
open pops, each ``hello``'s resume information, and any seq that was not ``last_seq + 1``
(a gap, or a duplicate when it is not above ``last_seq``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["Hello", "StreamTab"]

STREAM_TYPES = frozenset(
    {
        "pop",
        "pop_update",
        "pop_dismissed",
        "call_state",
        "notes_saved",
        "disposition_saved",
        "agent_state",
        "dial_status",
    }
)


@dataclass(frozen=True, slots=True)
class Hello:
    """One ``hello`` this tab got: when (monotonic), and its ``resume`` block."""

    at: float
    mode: str
    seq: int
    replayed: int


@dataclass
class StreamTab:
    """One browser tab of one agent, reconnecting by itself until :meth:`stop`."""

    url: str
    origin: str
    cookie: str
    name: str = "tab"
    ping_s: float = 1.0
    pong_within_s: float = 2.0
    open_timeout_s: float = 2.0
    last_seq: int | None = None
    epoch: str | None = None
    applied: list[tuple[int, str, str]] = field(default_factory=list)
    pops: dict[str, dict[str, Any]] = field(default_factory=dict)  # open pops by call id
    pop_messages: Counter[str] = field(default_factory=Counter)  # `pop` frames per call id
    states: dict[str, str] = field(default_factory=dict)  # last call_state per call id
    hellos: list[Hello] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected, got), got > expected
    duplicates: list[int] = field(default_factory=list)
    failed_attempts: int = 0
    lost_at: list[float] = field(default_factory=list)  # when a connection was given up
    _online: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: ClientConnection | None = None
    _stopping: bool = False
    _refs: int = 0

    async def run(self) -> None:
        """Connect, serve, reconnect; return once :meth:`stop` was called."""
        self._online.set()
        backoff = 0.2
        while True:
            await self._online.wait()
            if self._stopping:
                return
            try:
                await self._serve_once()
                backoff = 0.2
            except (OSError, TimeoutError, websockets.WebSocketException):
                self.failed_attempts += 1
            self._ws = None
            if not self._stopping and self._online.is_set():
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)

    async def go_offline(self) -> None:
        """Close the socket cleanly (1000) and stay away until :meth:`go_online`."""
        self._online.clear()
        if self._ws is not None:
            await self._ws.close(1000, "going offline")

    def go_online(self) -> None:
        self._online.set()

    async def stop(self) -> None:
        self._stopping = True
        self._online.set()
        if self._ws is not None:
            await self._ws.close(1000, "bye")

    async def send(self, kind: str, data: dict[str, object]) -> str:
        """Send a request on the open socket; return its ``ref``."""
        if self._ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        self._refs += 1
        ref = f"{kind[0]}{self._refs}"
        await self._ws.send(json.dumps({"type": kind, "data": data, "ref": ref}))
        return ref

    async def _serve_once(self) -> None:
        ws = await websockets.connect(
            self.url,
            additional_headers={"Cookie": f"cti_session={self.cookie}", "Origin": self.origin},
            open_timeout=self.open_timeout_s,
            close_timeout=1.0,
            ping_interval=None,  # the desktop pings in the protocol, not with control frames
            max_size=2**20,
        )
        self._ws = ws
        resume: dict[str, object] = {"last_seq": self.last_seq}
        if self.epoch is not None:
            resume["epoch"] = self.epoch
        await ws.send(json.dumps({"type": "resume", "data": resume}))
        pong = asyncio.Event()
        pinger = asyncio.create_task(self._keepalive(ws, pong))
        try:
            async for frame in ws:
                if not self._apply(json.loads(frame), pong):
                    await ws.close(1000, "gap in seq")  # resume from what was applied
        except websockets.ConnectionClosed:
            pass
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _keepalive(self, ws: ClientConnection, pong: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.ping_s)
            pong.clear()
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send('{"type":"ping","ref":"keepalive"}')
            try:
                await asyncio.wait_for(pong.wait(), self.pong_within_s)
            except TimeoutError:
                self.lost_at.append(time.monotonic())
                ws.transport.abort()  # a dead link: a close handshake would hang as well
                return

    def _apply(self, message: dict[str, Any], pong: asyncio.Event) -> bool:
        """Apply one frame; False when its seq shows something was lost or repeated."""
        kind, seq, data = message["type"], message["seq"], message.get("data") or {}
        if kind == "pong":
            pong.set()
            return True
        if kind == "hello":
            info = data["resume"]
            self.last_seq, self.epoch = info["seq"], info["epoch"]
            self.hellos.append(
                Hello(time.monotonic(), info["mode"], info["seq"], info.get("replayed", 0))
            )
            return True
        if kind == "snapshot":
            self.last_seq = seq
            self.pops = {pop["call_id"]: pop for pop in data["pops"]}
            return True
        if kind not in STREAM_TYPES:
            return True  # live and connection messages repeat the seq
        expected = (self.last_seq or 0) + 1
        if seq != expected:
            if seq > expected:
                self.gaps.append((expected, seq))
            else:
                self.duplicates.append(seq)
            return False
        self.last_seq = seq
        call_id = str(data.get("call_id", ""))
        label = f"{kind} {data['state']}" if kind == "call_state" else kind
        self.applied.append((seq, label, call_id))
        if kind == "pop":
            self.pop_messages[call_id] += 1
            self.pops[call_id] = data
        elif kind == "pop_update" and call_id in self.pops:
            self.pops[call_id] = data
        elif kind == "pop_dismissed":
            self.pops.pop(call_id, None)
        elif kind == "call_state":
            self.states[call_id] = data["state"]
            if data["state"] in ("ended", "transferred"):
                self.pops.pop(call_id, None)
        return True
