"""Adapters between the store and the parts that need it, built by the composition root.

Each adapts the store to one narrow port: the web app's :class:`Authenticator`, the pop
service's :class:`CallRecords`, and the in-memory :class:`Directory`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cti.core.events import is_site_device
from cti.core.records import CallRecord
from cti.errors import CtiError
from cti.pop.directory import Directory, GroupConfig
from cti.pop.render import DEFAULT_TEMPLATE
from cti.principal import Principal, Role
from cti.store import Store
from cti.store.calls import notes_text
from cti.store.codec import record_from_json, record_to_json
from cti.store.values import AgentInfo, GroupInfo

__all__ = ["StoreAuthenticator", "StoreRecords", "build_directory"]

log = logging.getLogger(__name__)


def _principal(agent: AgentInfo) -> Principal:
    return Principal(agent.username, agent.name, Role(str(agent.role)))


class StoreAuthenticator:
    """Check logins against the store's argon2 hashes (the web app calls this off the loop)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def verify(self, username: str, password: str) -> Principal | None:
        agent = self._store.verify_password(username, password)
        return _principal(agent) if agent is not None and agent.active else None


def phone_aliases(owners: Mapping[str, str]) -> dict[str, str]:
    """Each device added by MAC -> its agent's own endpoint (the first by name), so the call
    tracker counts the device's ring as the agent's; a user with no endpoint of their own
    keeps the device as it is."""
    own: dict[str, str] = {}
    for endpoint in sorted(owners):
        if not is_site_device(endpoint):
            own.setdefault(owners[endpoint], endpoint)
    return {
        endpoint: own[user]
        for endpoint, user in owners.items()
        if is_site_device(endpoint) and user in own
    }


def build_directory(
    owners: dict[str, str],
    groups: Sequence[GroupInfo],
    trunk_defaults: Sequence[Mapping[str, str]] = (),
) -> Directory:
    """The pop service's in-memory view of agents' phones and groups (``trunk_defaults``: the
    admin console's server, trunk -> default group map)."""
    configs: dict[str, GroupConfig] = {}
    dids: dict[str, str] = {}
    queues: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for group in groups:
        spec = group.spec
        configs[spec.name] = GroupConfig(
            name=spec.name,
            template=spec.template or DEFAULT_TEMPLATE,
            trigger="answered" if str(spec.trigger) == "answered" else "ringing",
            dispositions=spec.dispositions or GroupConfig(spec.name).dispositions,
            wrapup_seconds=spec.wrapup_seconds,
            wrapup_applies_to=spec.wrapup_applies_to.value,
        )
        dids.update(dict.fromkeys(spec.dids, spec.name))
        queues.update(dict.fromkeys(spec.queues, spec.name))
        for member in spec.members:
            members.setdefault(member, []).append(spec.name)
    return Directory(
        endpoint_owners={endpoint: (user,) for endpoint, user in owners.items()},
        phone_aliases=phone_aliases(owners),
        groups=configs,
        did_groups=dids,
        queue_groups=queues,
        agent_groups={user: tuple(names) for user, names in members.items()},
        trunk_groups={(t["server"], t["trunk"]): t["group"] for t in trunk_defaults},
    )


class StoreRecords:
    """The pop service's record port: notes so far, and the outbox write when a call ends.

    A record must never be lost: when the store cannot take it (the database restarting), the
    write is retried with backoff; records still unwritten at shutdown are spilled to a JSON-lines
    file that the next start writes first.
    """

    def __init__(
        self,
        store: Store,
        connectors: Sequence[str],
        poke: Callable[[], None],
        spill_file: Path,
        *,
        grace_s: float = 0.5,
        tick_s: float = 0.1,
        max_batch: int = 50,
    ) -> None:
        self._store = store
        self._connectors = tuple(connectors)
        self._poke = poke
        self._spill = spill_file
        self._grace = grace_s
        self._tick = tick_s
        self._max_batch = max_batch  # a transaction short enough not to hold others' writes
        self._pending: dict[str, CallRecord] = {}
        self._batch: list[tuple[CallRecord, int | None, asyncio.Future[bool]]] = []
        self.written = 0

    async def notes_for(self, call_id: str) -> str:
        """The call's notes so far, as the next agent's pop shows them after a transfer."""
        notes = await self._store.aio.run(self._store.notes_for, call_id)
        return notes_text(notes)

    async def end_call(self, record: CallRecord, wrapup_s: int | None = None) -> None:
        """Write ``record`` to the outbox (after a short grace for the last notes in flight).

        ``wrapup_s``: how long delivery waits for the agent's wrap-up notes (None: the store
        looks the agent's group up itself). The calls whose grace ends within one ``tick_s``
        are written together, in one transaction (issue 20): the first of them waits the tick
        and writes the batch; the others wait for its answer.
        """
        self._pending[record.call_id] = record
        await asyncio.sleep(self._grace)
        mine: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        batch = self._batch
        if len(batch) >= self._max_batch:  # full: this call opens the next one
            batch = self._batch = []
        batch.append((record, wrapup_s, mine))
        if len(batch) == 1:
            await asyncio.sleep(self._tick)
            if self._batch is batch:
                self._batch = []
            await self._write(batch)
        await mine
        del self._pending[record.call_id]
        self.written += 1

    async def _write(
        self, batch: list[tuple[CallRecord, int | None, asyncio.Future[bool]]]
    ) -> None:
        """Write ``batch`` in one transaction, retried with backoff until the store takes it."""
        ends = [(record, wrapup_s) for record, wrapup_s, _ in batch]
        delay = 0.5
        while True:
            try:
                store = self._store
                queued = await store.aio.run(store.end_calls, ends, self._connectors)
            except CtiError as exc:
                log.warning("cannot write %d call records yet (%s); retrying", len(ends), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            break
        for (_, _, done), was_queued in zip(batch, queued, strict=True):
            if not done.done():
                done.set_result(was_queued)
        if any(queued):  # the one wake-up per batch (the store does not wake the writer itself)
            self._poke()

    def spill(self) -> int:
        """Append the records not yet written to the spill file; return how many."""
        if not self._pending:
            return 0
        self._spill.parent.mkdir(parents=True, exist_ok=True)
        with self._spill.open("a", encoding="utf-8") as out:
            for record in self._pending.values():
                out.write(json.dumps(record_to_json(record)) + "\n")
        count = len(self._pending)
        log.error("spilled %d unwritten call records to %s", count, self._spill)
        return count

    def recover(self) -> int:
        """Write the records a previous run spilled; return how many (duplicates are no-ops)."""
        if not self._spill.exists():
            return 0
        lines = self._spill.read_text(encoding="utf-8").splitlines()
        for line in lines:
            if line.strip():
                self._store.end_call(record_from_json(json.loads(line)), self._connectors)
        self._spill.unlink()
        return len(lines)
