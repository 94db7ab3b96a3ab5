"""Keep each agent's missed calls: observed on the read path, written off it, read by the agent.

The AMI read path calls :meth:`MissedCalls.observe` with every batch of call updates; it only
picks out the missed calls (:func:`~cti.missed_calls.missed.missed_calls_of`, no I/O) into a
list. Every ``every_s`` a task it owns writes that list in one transaction on the store's
threads, as the live-call journal and the report recorder do, then tells each agent concerned
their new unseen count (every tab's badge). A write the store refuses is kept and tried again
at the next round. So a reload, or another tab, reads the list from the store.

Agents read and mark only their own list: who asks is the session's principal, never a
parameter, and an id that is not theirs is a 404 that changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cti.core.updates import CallUpdate
from cti.errors import CtiError, NotFound, ValidationFailed
from cti.missed_calls import rows
from cti.missed_calls.missed import MissedCall, missed_calls_of
from cti.principal import Action, Principal, require
from cti.store import Store

__all__ = ["MissedCallList", "MissedCallNotFound", "MissedCallNotifier", "MissedCalls"]

log = logging.getLogger(__name__)

MAX_IDS = 500  # ids one "mark seen" names (the page sends one, or all)


class MissedCallNotFound(NotFound):
    """A "mark seen" named a missed call that is not in the agent's own list."""

    error_id = "missed_call.not_found"


class MissedCallNotifier(Protocol):
    """How every tab of an agent hears that the list changed (agent_ui's notifier)."""

    def missed_calls(self, agent: str, data: Mapping[str, object]) -> None: ...


@dataclass(frozen=True, slots=True)
class MissedCallList:
    """An agent's list as the API returns it."""

    calls: list[dict[str, Any]]
    unseen: int

    def as_dict(self) -> dict[str, object]:
        return {"calls": self.calls, "unseen": self.unseen}


class MissedCalls:
    """Each agent's missed calls: fed by the read path, written by its own task."""

    def __init__(
        self,
        store: Store,
        owners: Callable[[str], tuple[str, ...]],
        notifier: MissedCallNotifier,
        *,
        every_s: float = 0.5,
        keep_days: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._owners = owners
        self._notifier = notifier
        self._every = every_s
        self._keep = timedelta(days=keep_days)
        self._clock = clock
        self._pending: list[MissedCall] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._pruned_at = 0.0
        self.writes = 0
        self.failures = 0

    # ---------------------------------------------------------------------------- read path
    def observe(self, updates: Iterable[CallUpdate]) -> None:
        """Keep the missed calls ``updates`` decide, to write at the next round (never blocks)."""
        self._pending.extend(missed_calls_of(updates, self._owners))

    # ---------------------------------------------------------------------------- writing
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="missed-calls")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.flush()

    async def flush(self) -> bool:
        """Write what was observed since the last write; False if the store refused it."""
        async with self._lock:
            entries, self._pending = self._pending, []
            now = self._clock()
            prune = now - self._pruned_at > 3600
            if not entries and not prune:
                return True
            try:
                counts = await self._store.aio.run(self._write, entries, prune)
            except CtiError as exc:
                self.failures += 1
                log.warning("missed calls not written yet (%s); retrying", exc.message)
                self._pending[:0] = entries
                return False
            if prune:
                self._pruned_at = now
            self.writes += 1
        for agent, unseen in counts.items():
            self._notifier.missed_calls(agent, {"unseen": unseen, "changed": "added"})
        return True

    def _write(self, entries: Sequence[MissedCall], prune: bool) -> dict[str, int]:
        with self._store.writing("missed_calls.add") as conn:
            rows.add_missed(conn, entries)
            if prune:
                before = datetime.fromtimestamp(self._clock(), UTC) - self._keep
                rows.prune_missed(conn, before)
            return rows.unseen_counts(conn, (entry.agent for entry in entries))

    async def close(self) -> None:
        """Stop the task and write what is left (once)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    # ---------------------------------------------------------------------------- the API
    async def list_of(self, principal: Principal) -> MissedCallList:
        """The signed-in agent's own list, newest first, with the unseen count."""
        require(principal, Action.RECEIVE_POPS)
        return await self._store.aio.run(self._read, principal.username)

    def _read(self, agent: str) -> MissedCallList:
        with self._store.reading("missed_calls.list") as conn:
            calls = rows.list_missed(conn, agent)
            unseen = rows.unseen_counts(conn, [agent])[agent]
        return MissedCallList(calls, unseen)

    async def mark_seen(self, principal: Principal, ids: object, everything: object) -> int:
        """Mark the agent's ``ids`` (or, with ``everything`` true, all) seen; the new unseen
        count, which every tab of the agent is told. 404 (nothing changed) when an id is not
        one of the agent's own; 422 for anything but a list of ids or ``all: true``."""
        require(principal, Action.RECEIVE_POPS)
        chosen = _ids(ids, everything)
        agent = principal.username
        unseen = await self._store.aio.run(self._mark, agent, chosen)
        self._notifier.missed_calls(agent, {"unseen": unseen, "changed": "seen"})
        return unseen

    def _mark(self, agent: str, ids: Sequence[int] | None) -> int:
        now = datetime.fromtimestamp(self._clock(), UTC)
        with self._store.writing("missed_calls.seen") as conn:
            if rows.mark_seen(conn, agent, ids, now):
                raise MissedCallNotFound(
                    "no such missed call in your list",
                    details={"field": "ids", "reason": "not_yours_or_gone"},
                )
            return rows.unseen_counts(conn, [agent])[agent]


def _ids(ids: object, everything: object) -> list[int] | None:
    if everything is True and ids is None:
        return None
    if everything not in (None, False) or not isinstance(ids, list):
        raise ValidationFailed(
            'send {"ids": [<id>, ...]} or {"all": true}', details={"field": "ids"}
        )
    if not 0 < len(ids) <= MAX_IDS or not all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids
    ):
        raise ValidationFailed(
            f"ids: 1 to {MAX_IDS} missed-call ids (positive integers)",
            details={"field": "ids", "reason": "invalid"},
        )
    return sorted(set(ids))
