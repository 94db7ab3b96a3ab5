"""Real (in-memory) stand-ins for the store tests: a CRM connector and a clock.

:class:`MemoryCrm` implements the whole :class:`~crm_connectors.base.CrmConnector` protocol and
is idempotent on the call id like the real connectors; what it should do on the next
``log_call`` is scripted with :meth:`MemoryCrm.script`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crm_connectors.base import (
    DEFAULT_LOOKUP_OPTIONS,
    CallHistoryEntry,
    Contact,
    CrmConnector,
    LookupOptions,
    LookupResult,
    NewContact,
    RecordRef,
    SearchHit,
)
from cti.core.records import CallRecord, Direction, Outcome
from cti.errors import NotFound, ValidationFailed

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# What the next log_call does: "ok", "raise" (the exception given), "hang" (until cancelled),
# "cancel_after" (store the call, then raise CancelledError as if the task were killed), or
# "block_after" (store the call, then wait until released: the test kills the writer meanwhile).
Step = tuple[str, BaseException | None]


@dataclass
class MemoryCrm:
    """A CRM that keeps logged calls in a dict keyed by call id."""

    name: str = "memory"
    calls: dict[str, tuple[str, CallRecord]] = field(default_factory=dict)
    attempts: list[tuple[str, datetime]] = field(default_factory=list)  # (call id, clock time)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stored: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _steps: list[Step] = field(default_factory=list)

    def script(self, *steps: str | BaseException) -> None:
        """Queue what the next calls do; an exception means raise it; then every call succeeds."""
        for step in steps:
            self._steps.append(("raise", step) if isinstance(step, BaseException) else (step, None))

    def back(self) -> None:
        """Forget what was scripted: every call from now on succeeds (an outage ends)."""
        self._steps.clear()

    async def log_call(self, record: CallRecord) -> str:
        self.attempts.append((record.call_id, self.clock()))
        action, error = self._steps.pop(0) if self._steps else ("ok", None)
        if action == "raise":
            assert error is not None
            raise error
        if action == "hang":
            await asyncio.Event().wait()
        crm_id = self._store(record)
        if action == "cancel_after":
            raise asyncio.CancelledError
        if action == "block_after":
            await self.release.wait()
        return crm_id

    def _store(self, record: CallRecord) -> str:
        if record.call_id not in self.calls:
            self.calls[record.call_id] = (f"{self.name}-{len(self.calls) + 1}", record)
        self.stored.set()
        return self.calls[record.call_id][0]

    async def lookup(
        self, number: str, options: LookupOptions = DEFAULT_LOOKUP_OPTIONS
    ) -> LookupResult:
        return LookupResult(number, None)

    async def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        return []

    async def history(self, target: str | RecordRef, limit: int = 20) -> list[CallHistoryEntry]:
        return []

    async def link_number(self, number: str, contact: RecordRef) -> None:
        raise NotFound("no such contact")

    async def create_contact(self, new: NewContact) -> Contact:
        raise NotFound("this CRM keeps no contacts")

    async def close(self) -> None:
        return None


@dataclass
class BatchingCrm(MemoryCrm):
    """A :class:`MemoryCrm` that also stores many records in one call (``log_calls``), all or
    nothing, as the built-in CRM does; it refuses every call id in ``refused``, alone or in a
    batch. ``batches`` lists the size of each ``log_calls``; ``attempts`` counts single calls."""

    refused: set[str] = field(default_factory=set)
    batches: list[int] = field(default_factory=list)

    async def log_call(self, record: CallRecord) -> str:
        if record.call_id in self.refused:
            self.attempts.append((record.call_id, self.clock()))
            raise ValidationFailed("refused", details={"call_id": record.call_id})
        return await super().log_call(record)

    async def log_calls(self, records: Sequence[CallRecord]) -> list[str]:
        self.batches.append(len(records))
        action, error = self._steps.pop(0) if self._steps else ("ok", None)
        if action == "raise":
            assert error is not None
            raise error
        if any(record.call_id in self.refused for record in records):
            raise ValidationFailed("one record is refused")
        return [self._store(record) for record in records]


def _typed(crm: MemoryCrm) -> CrmConnector:
    return crm  # mypy checks that MemoryCrm implements the whole protocol


class FakeClock:
    """Wall time that moves only when the writer waits (instantly), so backoff tests are fast."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start
        self.waits: list[float] = []

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        self.waits.append(seconds)
        if not event.is_set():
            self.advance(seconds)
        await asyncio.sleep(0.001)  # let the test and the store's threads run


def record(call_id: str = "lab:1700000000.1", **changes: object) -> CallRecord:
    """Return an answered inbound call record; ``changes`` override fields."""
    values: dict[str, object] = {
        "call_id": call_id,
        "server": "lab",
        "direction": Direction.INBOUND,
        "outcome": Outcome.ANSWERED,
        "started_at": START - timedelta(minutes=5),
        "answered_at": START - timedelta(minutes=4, seconds=50),
        "ended_at": START - timedelta(minutes=1),
        "caller_number": "+442079460001",
        "called_number": "+442079460999",
        "did": "+442079460999",
        "queue": "support",
        "wait_seconds": 10.0,
        "talk_seconds": 230.0,
        "agents_rung": ("alice", "bob"),
        "answered_by": "alice",
    }
    values.update(changes)
    return CallRecord(**values)  # type: ignore[arg-type]


async def eventually(condition: Callable[[], bool | Awaitable[bool]], within: float = 10.0) -> None:
    """Wait (really) until ``condition`` holds; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.005)
