"""Fake websocket senders for hub tests: record frames, or stall like a tab that stopped reading."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cti.errors import BrowserGone


class FakeSender:
    """Records every frame (decoded) and the close; ``stall()`` makes writes block."""

    def __init__(self, *, stalled: bool = False, gone: bool = False) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.gone = gone
        self._flowing = asyncio.Event()
        if not stalled:
            self._flowing.set()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def send_text(self, text: str) -> None:
        if self.gone:
            raise BrowserGone("gone")
        await self._flowing.wait()
        self.frames.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def types(self) -> list[str]:
        return [f["type"] for f in self.frames]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]
