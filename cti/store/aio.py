"""The store for coroutines: each method runs its :class:`~cti.store.Store` twin on the store's
bounded thread pool, so the event loop never waits on the database.

A call that does not finish within ``timeout`` seconds raises StoreUnavailable (the thread
finishes on its own; a write may still commit). :meth:`AsyncStore.end_call` tells the outbox
watchers (the :class:`~cti.store.outbox.OutboxWriter`) when it queued rows, so delivery starts at
once instead of at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from cti.core.records import CallRecord
from cti.errors import StoreUnavailable
from cti.store.values import (
    AgentInfo,
    CallNote,
    Delivery,
    EventEntry,
    GroupInfo,
    GroupSpec,
    OutboxCounts,
    OutboxEntry,
)

if TYPE_CHECKING:
    from cti.store.store import Store

__all__ = ["AsyncStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")


class AsyncStore:
    """Coroutine twins of the :class:`~cti.store.Store` methods the daemon uses."""

    def __init__(self, store: Store, *, timeout: float | None = 30.0) -> None:
        self.store = store
        self._timeout = timeout
        self._watchers: list[Callable[[], None]] = []

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run any synchronous store method on the store's threads."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.store.executor, partial(call, *args, **kwargs))
        if self._timeout is None:
            return await future
        try:
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError as exc:
            name = getattr(call, "__name__", "call")
            raise StoreUnavailable(
                f"the store did not answer within {self._timeout:g} s",
                details={"operation": name, "timeout_seconds": self._timeout},
            ) from exc

    def watch_outbox(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the loop) whenever :meth:`end_call` queued rows; return an
        unsubscribe function."""
        self._watchers.append(callback)

        def unwatch() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return unwatch

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)

    # ------------------------------------------------------------------ agents, groups
    async def get_agent(self, username: str) -> AgentInfo | None:
        return await self.run(self.store.get_agent, username)

    async def agents(self) -> list[AgentInfo]:
        return await self.run(self.store.agents)

    async def verify_password(self, username: str, password: str) -> AgentInfo | None:
        return await self.run(self.store.verify_password, username, password)

    async def endpoint_owners(self) -> dict[str, str]:
        return await self.run(self.store.endpoint_owners)

    async def groups(self) -> list[GroupInfo]:
        return await self.run(self.store.groups)

    async def get_group(self, name: str) -> GroupInfo | None:
        return await self.run(self.store.get_group, name)

    async def create_group(self, spec: GroupSpec) -> GroupInfo:
        return await self.run(self.store.create_group, spec)

    async def update_group(self, name: str, spec: GroupSpec) -> GroupInfo:
        return await self.run(self.store.update_group, name, spec)

    async def delete_group(self, name: str) -> bool:
        return await self.run(self.store.delete_group, name)

    async def group_for(
        self, did: str | None = None, queue: str | None = None, agent: str | None = None
    ) -> GroupInfo | None:
        return await self.run(self.store.group_for, did, queue, agent)

    async def agent_group_names(self) -> dict[str, tuple[str, ...]]:
        return await self.run(self.store.agent_group_names)

    # --------------------------------------------------------------------------- calls
    async def save_notes(
        self, call_id: str, username: str, notes: str, disposition: str | None = None
    ) -> None:
        await self.run(self.store.save_notes, call_id, username, notes, disposition)

    async def notes_for(self, call_id: str) -> list[CallNote]:
        return await self.run(self.store.notes_for, call_id)

    async def end_call(
        self, record: CallRecord, connectors: Sequence[str], wrapup_s: int | None = None
    ) -> bool:
        """Queue the record (see :meth:`Store.end_call`) and wake the outbox writer."""
        queued = await self.run(self.store.end_call, record, connectors, wrapup_s)
        if queued:
            for callback in list(self._watchers):
                try:
                    callback()
                except Exception:
                    log.exception("an outbox watcher failed")
        return queued

    async def save_live_calls(
        self, snapshots: Mapping[str, Mapping[str, Any]], gone: Sequence[str] = ()
    ) -> None:
        await self.run(self.store.save_live_calls, snapshots, gone)

    async def live_calls(self) -> list[tuple[str, str, dict[str, Any], datetime]]:
        return await self.run(self.store.live_calls)

    # -------------------------------------------------------------------------- outbox
    async def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Delivery]:
        return await self.run(self.store.claim_due, now, limit, lease_seconds)

    async def release_waiting(
        self, connector: str, now: datetime, limit: int | None = None, exclude: Sequence[int] = ()
    ) -> int:
        return await self.run(self.store.release_waiting, connector, now, limit, exclude)

    async def mark_delivered(self, row_id: int, crm_id: str, now: datetime) -> None:
        await self.run(self.store.mark_delivered, row_id, crm_id, now)

    async def mark_failed(
        self, row_id: int, error: str, next_attempt_at: datetime, now: datetime
    ) -> None:
        await self.run(self.store.mark_failed, row_id, error, next_attempt_at, now)

    async def outbox_counts(self, stuck_after: int) -> OutboxCounts:
        return await self.run(self.store.outbox_counts, stuck_after)

    async def next_outbox_due(self) -> datetime | None:
        return await self.run(self.store.next_outbox_due)

    async def outbox_entries(
        self, *, stuck_after: int | None = None, include_delivered: bool = False, limit: int = 100
    ) -> list[OutboxEntry]:
        return await self.run(
            self.store.outbox_entries,
            stuck_after=stuck_after,
            include_delivered=include_delivered,
            limit=limit,
        )

    async def retry_outbox(self, row_ids: Sequence[int] | None = None) -> int:
        return await self.run(self.store.retry_outbox, row_ids)

    # -------------------------------------------------------------------------- events
    async def record_event(
        self, kind: str, details: Mapping[str, Any] | None = None, actor: str | None = None
    ) -> int:
        return await self.run(self.store.record_event, kind, details, actor)

    async def events(self, *, kind: str | None = None, limit: int = 100) -> list[EventEntry]:
        return await self.run(self.store.events, kind=kind, limit=limit)
