"""The admin event history: every admin change is written with its actor, off the read path.

:meth:`AdminHistory.record` only queues (the AMI read path calls it for trunk events); one task
writes the queue to the store's event table, and :meth:`close` writes what is left.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cti.admin.owned_task import OwnedTask
from cti.errors import CtiError
from cti.store import Store

__all__ = ["AdminHistory"]

log = logging.getLogger(__name__)


class AdminHistory:
    """Queue admin events for the store's history, and read it back for the audit page."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], str | None]] = asyncio.Queue()
        self._task = OwnedTask("admin-history")

    def start(self) -> None:
        self._task.start(self._write())

    async def close(self) -> None:
        """Stop the writer task, then write every event still queued."""
        await self._task.stop()
        while not self._queue.empty():
            await self._store_event(*self._queue.get_nowait())

    def record(self, kind: str, details: dict[str, Any], actor: str | None) -> None:
        """Queue an event for the history; the writer task stores it (never on the read path)."""
        self._queue.put_nowait((kind, details, actor))

    async def entries(self, limit: int = 200, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` events (of ``kind``), as the audit page shows them."""
        store = self._store
        found = await store.aio.run(store.events, kind=kind, limit=limit)
        return [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "kind": e.kind,
                "details": e.details,
            }
            for e in found
        ]

    async def _write(self) -> None:
        while True:
            await self._store_event(*await self._queue.get())

    async def _store_event(self, kind: str, details: dict[str, Any], actor: str | None) -> None:
        try:
            await self._store.aio.run(self._store.record_event, kind, details, actor)
        except CtiError:
            log.exception("could not record the %s event", kind)
