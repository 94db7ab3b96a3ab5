"""Keep the tracker's live calls in the store, so that a restarted daemon still records them.

Without this a call that is up when the daemon stops (SIGTERM, SIGKILL, a crash) would be
forgotten: the next run adopts it from the PBX's channel listing as a new call if it still
runs, and knows nothing at all of it if it ended meanwhile. With it:

- every ``every_s`` the snapshots of the calls that had call updates since the last save are
  written, one transaction for all of them, along with a slice of the other live calls (a
  rolling sweep, ``sweep`` calls per save) for the changes no update announces (a channel
  joining, a dial cancelled); a row is rewritten only when its snapshot changed. The cost
  follows the calls that change, not the calls that are up. At drain every live call is saved;
- a call's row is deleted in the transaction that queues its record (``Store.end_call``),
  so at any moment a call is either saved here or queued in the outbox (a consultation merged
  by a transfer has no record: its row is deleted here);
- at start the saved calls go back into the tracker before the PBX connections open; the first
  resync of each server then closes those whose channels went away (flag ``vanished``) and
  writes their records, and the others carry on with their start time, agent and notes.

What a SIGKILL can cost: the last ``every_s`` seconds of a call's updates, and changes without an
update until the sweep comes round; never the call or its record (the first resync adopts any
channel the saved call does not know).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from cti.core.snapshot import SnapshotError
from cti.core.tracker import CallTracker
from cti.core.updates import CallEnded, CallUpdate
from cti.errors import CtiError
from cti.store.aio import AsyncStore

__all__ = ["LiveCallJournal"]

log = logging.getLogger(__name__)

_SNAPSHOTS_PER_STEP = 50  # ~1 ms of snapshots and fingerprints between two yields to the loop


class LiveCallStore(Protocol):
    """The store methods the journal runs (on the store's threads, through its ``aio``)."""

    def save_live_calls(
        self, snapshots: Mapping[str, Mapping[str, Any]], gone: Sequence[str] = ()
    ) -> None: ...
    def live_calls(self) -> list[tuple[str, str, dict[str, Any], Any]]: ...


class LiveCallJournal:
    """Save the live calls of ``tracker`` to ``store`` as they change; load them at start."""

    def __init__(
        self,
        store: AsyncStore[LiveCallStore],
        tracker: CallTracker,
        *,
        every_s: float = 0.5,
        sweep: int = 200,
    ) -> None:
        self._store = store
        self._tracker = tracker
        self._every = every_s
        self._sweep = sweep
        self._sweeping: list[str] = []  # call ids the rolling sweep has yet to look at
        self._dirty: set[str] = set()  # calls with updates since the last save
        self._saved: dict[str, int] = {}  # call id -> fingerprint of its snapshot as saved
        self._gone: set[str] = set()  # saved calls that ended without a record of their own
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.saves = 0
        self.failures = 0

    # ---------------------------------------------------------------------------- read path
    def observe(self, updates: Iterable[CallUpdate]) -> None:
        """Called with every batch of call updates (never blocks).

        A call that ended with a record keeps its row until ``end_call`` deletes it with the
        record queued; one that ended without (a merged consultation) is deleted at the next save.
        """
        for update in updates:
            call_id = update.call.call_id
            if isinstance(update, CallEnded):
                self._dirty.discard(call_id)
                if self._saved.pop(call_id, None) is not None and update.record is None:
                    self._gone.add(call_id)
            else:
                self._dirty.add(call_id)

    # ---------------------------------------------------------------------------- start
    async def restore(self, servers: Iterable[str]) -> list[CallUpdate]:
        """Put the calls a previous run saved back into the tracker; return their updates.

        Calls of a server not configured now stay saved (they come back with the server). A
        row that is not a snapshot this code can read is left in place and named in the log.
        """
        known = set(servers)
        tracker = self._tracker
        updates: list[CallUpdate] = []
        for call_id, server, data, saved_at in await self._store.run(self._store.store.live_calls):
            if server not in known:
                log.warning("live call %s of unknown server %s kept for later", call_id, server)
                continue
            try:
                restored = tracker.restore(data)
            except SnapshotError as exc:
                log.error("live call %s (saved %s) cannot be read back: %s", call_id, saved_at, exc)
                continue
            self._saved[call_id] = _fingerprint(data)
            updates += restored
        if updates:
            log.warning(
                "took back %d live calls from the previous run; the PBX resync settles them",
                len(self._saved),
            )
        return updates

    def forget(self, call_ids: Iterable[str]) -> None:
        """Stop saving these calls (another node owns their server now); their rows stay,
        for that node to restore and end."""
        for call_id in call_ids:
            self._dirty.discard(call_id)
            self._saved.pop(call_id, None)
            self._gone.discard(call_id)
        self._sweeping.clear()

    # ---------------------------------------------------------------------------- saving
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-calls")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.save()

    async def save(self, *, everything: bool = False) -> bool:
        """Save what changed since the last save; False if the store refused (retried later).

        ``everything`` looks at every live call (at drain), not the updated ones and a sweep.
        """
        async with self._lock:
            tracker = self._tracker
            if everything:
                candidates = tracker.call_ids()
            else:
                swept: list[str] = []
                if self._sweep > 0:
                    if not self._sweeping:
                        self._sweeping = tracker.call_ids()
                    swept = self._sweeping[-self._sweep :]
                    del self._sweeping[-self._sweep :]
                candidates = [*self._dirty, *swept]
            self._dirty.clear()
            changed: dict[str, dict[str, object]] = {}
            prints: dict[str, int] = {}
            for n, call_id in enumerate(candidates, 1):
                snapshot = tracker.snapshot(call_id)
                if snapshot is not None and call_id not in changed:
                    fingerprint = _fingerprint(snapshot)
                    if self._saved.get(call_id) != fingerprint:
                        changed[call_id], prints[call_id] = snapshot, fingerprint
                if n % _SNAPSHOTS_PER_STEP == 0:
                    # Hundreds of calls take milliseconds: pops go out between the steps.
                    await asyncio.sleep(0)
            # A call that ended during the steps was deleted with its record: not saved again.
            changed = {call: snap for call, snap in changed.items() if tracker.is_live(call)}
            gone = sorted(self._gone)
            if not changed and not gone:
                return True
            try:
                await self._store.run(self._store.store.save_live_calls, changed, gone)
            except CtiError as exc:
                self.failures += 1
                self._dirty.update(changed)  # try them again next time
                log.warning("cannot save %d live calls yet (%s)", len(changed), exc)
                return False
            for call_id, fingerprint in prints.items():
                if tracker.is_live(call_id):  # not ended while the write ran
                    self._saved[call_id] = fingerprint
            self._gone.difference_update(gone)
            self.saves += 1
            return True

    async def close(self) -> None:
        """Stop the periodic saves and save every live call one last time."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if not await self.save(everything=True):
            log.error("live calls could not be saved at shutdown; their calls may go unrecorded")


def _fingerprint(snapshot: dict[str, object]) -> int:
    """Tells a changed snapshot from the saved one without keeping every snapshot in memory."""
    return hash(repr(snapshot))
