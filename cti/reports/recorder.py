"""Count the read path's events into report buckets, and write them off the event loop.

The AMI read path calls :meth:`FactRecorder.observe` with every event and its call updates; it
only feeds the pure :class:`~cti.reports.facts.FactTracker` and adds the decided facts to an
in-memory :class:`~cti.reports.buckets.Deltas` (dictionary additions, no I/O). Every ``every_s``
a task it owns swaps the deltas out and adds them to the store on the store's threads, one
transaction for all of them, as the live-call journal and the outbox do. A write the store
refuses is merged back and tried again at the next round, so a store outage delays figures but
loses none (unless the daemon stops while the store is down: :meth:`close` tries once more).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, suppress
from typing import Protocol

from sqlalchemy import Connection

from cti.core.events import PbxEvent
from cti.core.updates import CallUpdate
from cti.errors import CtiError
from cti.reports.buckets import Counting, Deltas
from cti.reports.facts import FactTracker
from cti.reports.rows import add_deltas
from cti.store.aio import AsyncStore

__all__ = ["FactRecorder", "ReportStore"]

log = logging.getLogger(__name__)


class ReportStore(Protocol):
    """The store's transactions (:class:`cti.store.Store` has them)."""

    def writing(self, operation: str) -> AbstractContextManager[Connection]: ...
    def reading(self, operation: str) -> AbstractContextManager[Connection]: ...


class FactRecorder:
    """Turn events into facts into bucket deltas (read path); write the deltas (own task)."""

    def __init__(
        self,
        store: AsyncStore[ReportStore],
        counting: Counting,
        agent_name: Callable[[str], str],
        *,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.counting = counting
        self._facts = FactTracker(agent_name)
        self._pending = Deltas(counting)
        self._every = every_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.writes = 0
        self.failures = 0

    # ---------------------------------------------------------------------------- read path
    def observe(self, event: PbxEvent, updates: Iterable[CallUpdate]) -> None:
        """Count what ``event`` and its call updates decide (never blocks)."""
        facts = self._facts.feed(event)
        for update in updates:
            facts += self._facts.call_update(update, event.at)
        if facts:
            self._pending.count(facts)

    # ---------------------------------------------------------------------------- writing
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="report-buckets")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.flush()

    async def flush(self) -> bool:
        """Write what was counted since the last write; False if the store refused it."""
        async with self._lock:
            self._pending.count(self._facts.checkpoint(self._clock()))
            deltas, self._pending = self._pending, Deltas(self.counting)
            if not len(deltas):
                return True
            try:
                await self._store.run(_write, self._store.store, deltas)
            except CtiError as exc:
                self.failures += 1
                log.warning("report figures not written yet (%s); retrying", exc.message)
                deltas.merge(self._pending)
                self._pending = deltas
                return False
            self.writes += 1
            return True

    async def close(self) -> None:
        """Stop the task and write what is left (once)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


def _write(store: ReportStore, deltas: Deltas) -> int:
    with store.writing("reports.add") as conn:
        return add_deltas(conn, deltas)
