"""The outbox writer: delivers queued call records to the CRM connectors, exactly once per call.

One asyncio task, owned by whoever starts it (``async with writer:`` or ``start()``/``stop()``),
claims due rows from the store, calls the named connector's ``log_call`` (bounded by a timeout
and a concurrency limit) and records the outcome. A connector that stores many records at once
(:class:`BatchCallLogger`, the built-in CRM) gets all of a round's rows in one ``log_calls``;
if it refuses one, each is tried alone. A failure schedules the next attempt with
capped exponential backoff and jitter; a row is never dropped, and after ``stuck_after``
failures it counts as stuck (admins see it in ``cti outbox list --stuck``) while it keeps being
retried at the cap. When the store itself cannot be reached the writer logs, backs off and tries
again: a PostgreSQL restart delays records, it does not lose them or stop the daemon.

Recovery does not wait for the backoff: while a connector fails, its oldest waiting row is tried
every ``probe_interval`` seconds, and the first success makes every other row of that connector
due at once. After a long CRM outage the records arrive seconds after it ends, not at the cap.

Exactly once: a row is marked delivered only after ``log_call`` returned; if the process dies in
between, the row is delivered again after its claim lapses, and the connector's idempotency on
the call id makes that the same CRM record.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from cti.config import OutboxSettings
from cti.core.records import CallRecord
from cti.errors import CrmUnavailable, CtiError, StoreError, ValidationFailed
from cti.store.aio import AsyncStore
from cti.store.values import Delivery, OutboxCounts

__all__ = [
    "SYSTEM_CLOCK",
    "BatchCallLogger",
    "CallLogger",
    "Clock",
    "OutboxStats",
    "OutboxStore",
    "OutboxWriter",
    "RetryPolicy",
    "SystemClock",
]

log = logging.getLogger(__name__)


class CallLogger(Protocol):
    """The one :class:`~crm_connectors.base.CrmConnector` method the writer needs."""

    async def log_call(self, record: CallRecord) -> str: ...


@runtime_checkable
class BatchCallLogger(Protocol):
    """A connector that stores many records in one round (the built-in CRM): all or nothing,
    each record's CRM id in order."""

    async def log_calls(self, records: Sequence[CallRecord]) -> list[str]: ...


class OutboxStore(Protocol):
    """The store methods the writer runs (on the store's threads, through its ``aio``)."""

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Delivery]: ...
    def mark_delivered(self, row_id: int, crm_id: str, now: datetime) -> None: ...
    def mark_all_delivered(self, marks: Sequence[tuple[int, str]], now: datetime) -> None: ...
    def mark_failed(
        self, row_id: int, error: str, next_attempt_at: datetime, now: datetime
    ) -> None: ...
    def outbox_counts(self, stuck_after: int) -> OutboxCounts: ...
    def next_outbox_due(self) -> datetime | None: ...
    def release_waiting(
        self, connector: str, now: datetime, limit: int | None = None, exclude: Sequence[int] = ()
    ) -> int: ...


class Clock(Protocol):
    """Wall time for the rows, and the writer's only way to wait (tests pass a fake)."""

    def now(self) -> datetime: ...

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        """Return when ``event`` is set or ``seconds`` have passed."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass


SYSTEM_CLOCK = SystemClock()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter: the n-th failure waits within
    ``[d * (1 - jitter), d]`` where ``d = min(cap, base * factor ** (n - 1))``."""

    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2
    stuck_after: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.base_seconds <= self.cap_seconds or self.factor < 1:
            raise ValidationFailed("backoff needs 0 < base <= cap and factor >= 1")
        if not 0 <= self.jitter < 1 or self.stuck_after < 1:
            raise ValidationFailed("jitter is in [0, 1) and stuck_after at least 1")

    @classmethod
    def from_settings(cls, settings: OutboxSettings) -> RetryPolicy:
        return cls(
            base_seconds=settings.backoff_base_s,
            cap_seconds=settings.backoff_cap_s,
            jitter=settings.jitter,
            stuck_after=settings.stuck_after,
        )

    def delay(self, failures: int, rand: float) -> float:
        """Return the wait after the ``failures``-th failure (>= 1); ``rand`` is in [0, 1)."""
        exponent = min(max(failures, 1) - 1, 64)  # past the cap it no longer matters
        ceiling = min(self.cap_seconds, self.base_seconds * self.factor**exponent)
        return ceiling * (1.0 - self.jitter * rand)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What metrics export: the queue (as last read from the store) and this process's totals."""

    depth: int
    stuck: int
    delivered_total: int
    failures_total: int
    store_errors_total: int
    store_available: bool


_STORE_POLICY = RetryPolicy(base_seconds=0.5, cap_seconds=30.0, jitter=0.2)
_IDLE_FLOOR = 0.05  # seconds; never spin on a row another writer holds locked


class OutboxWriter:
    """Deliver the store's outbox rows to ``connectors`` (by the name in each row)."""

    def __init__(
        self,
        store: AsyncStore[OutboxStore],
        connectors: Mapping[str, CallLogger],
        *,
        policy: RetryPolicy | None = None,
        delivery_timeout: float = 30.0,
        poll_interval: float = 5.0,
        batch_size: int = 50,
        concurrency: int = 4,
        lease_seconds: float | None = None,
        probe_interval: float | None = 10.0,
        store_policy: RetryPolicy = _STORE_POLICY,
        clock: Clock = SYSTEM_CLOCK,
        rand: Callable[[], float] = random.random,
        gather_s: float = 0.0,
    ) -> None:
        if min(delivery_timeout, poll_interval) <= 0 or min(batch_size, concurrency) < 1:
            raise ValidationFailed("timeouts and intervals are positive, sizes at least 1")
        self._aio = store
        self._rows = store.store
        self._connectors = dict(connectors)
        self._batching = {n: c for n, c in connectors.items() if isinstance(c, BatchCallLogger)}
        self._policy = policy or RetryPolicy()
        self._timeout = delivery_timeout
        self._poll = poll_interval
        self._batch = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._lease = lease_seconds if lease_seconds is not None else delivery_timeout + 30.0
        self._store_policy = store_policy
        self._clock = clock
        self._rand = rand
        self._wake = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._counts = OutboxCounts(0, 0)
        self._delivered = self._failures = self._store_errors = 0
        self._store_down = False
        self._probe = probe_interval
        self._failing: dict[str, datetime] = {}  # connector -> its last failed attempt or probe
        self._in_flight: set[int] = set()
        self._gather = gather_s

    @classmethod
    def from_settings(
        cls,
        store: AsyncStore[OutboxStore],
        connectors: Mapping[str, CallLogger],
        settings: OutboxSettings,
        **options: object,
    ) -> OutboxWriter:
        """Return a writer configured by the ``[store.outbox]`` section."""
        return cls(
            store,
            connectors,
            policy=RetryPolicy.from_settings(settings),
            delivery_timeout=settings.delivery_timeout_s,
            poll_interval=settings.poll_interval_s,
            probe_interval=settings.probe_interval_s,
            batch_size=settings.batch_size,
            concurrency=settings.concurrency,
            gather_s=settings.gather_s,
            **options,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stats(self) -> OutboxStats:
        return OutboxStats(
            depth=self._counts.depth,
            stuck=self._counts.stuck,
            delivered_total=self._delivered,
            failures_total=self._failures,
            store_errors_total=self._store_errors,
            store_available=not self._store_down,
        )

    def start(self) -> None:
        """Start the writer's task on the running loop (once)."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="outbox-writer")

    async def stop(self) -> None:
        """Cancel the writer and wait for it; rows in flight are delivered again later."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.error("the outbox writer had died", exc_info=task.exception())

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def poke(self) -> None:
        """Look for due rows now: whoever queued rows (the daemon's record port) or asked for a
        retry calls this once; the store does not wake the writer itself."""
        self._wake.set()

    async def flush(self, timeout: float) -> bool:  # noqa: ASYNC109 (a deadline for the whole flush)
        """Deliver every row due now, after the deliveries in flight; for graceful shutdown.

        Returns True when no due row is left, False when ``timeout`` seconds ran out first.
        """
        try:
            async with asyncio.timeout(timeout), self._cycle_lock:
                failures = 0
                while True:
                    try:
                        if await self._deliver_due() == 0:
                            break
                    except StoreError as exc:
                        failures += 1
                        await self._clock.wait(asyncio.Event(), self._store_trouble(exc, failures))
                await self._refresh_counts()
                return True
        except TimeoutError:
            return False

    # ----------------------------------------------------------------------------- loop
    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                async with self._cycle_lock:
                    wait = await self._cycle()
            except StoreError as exc:
                failures += 1
                wait = self._store_trouble(exc, failures)
            except Exception:  # a bug must not stop record delivery for good
                failures += 1
                log.exception("outbox writer cycle failed")
                wait = self._store_policy.delay(failures, self._rand())
            else:
                failures = 0
            await self._clock.wait(self._wake, wait)
            if self._gather and wait > 0:
                # Woken by a queued record, or by one coming due after its wrap-up: others
                # follow within milliseconds at a busy site, and one claim, one delivery round
                # and one mark take them all (a backlog, wait 0, is not held back).
                await asyncio.sleep(self._gather)

    async def _cycle(self) -> float:
        """Deliver one batch; return how long to wait before the next."""
        claimed = await self._deliver_due()
        await self._refresh_counts()
        if claimed >= self._batch or await self._probe_failing():
            return 0.0
        due = await self._aio.run(self._rows.next_outbox_due)
        wait = self._poll if due is None else (due - self._clock.now()).total_seconds()
        if self._probe is not None and self._failing:
            now = self._clock.now()
            soonest = min(self._failing.values()) + timedelta(seconds=self._probe)
            wait = min(wait, (soonest - now).total_seconds())
        return max(min(wait, self._poll), 0.0 if claimed else _IDLE_FLOOR)

    async def _probe_failing(self) -> bool:
        """Make the oldest waiting row of each connector not tried for a probe interval due."""
        if self._probe is None:
            return False
        now = self._clock.now()
        probed = False
        for connector, last in list(self._failing.items()):
            if (now - last).total_seconds() >= self._probe:
                self._failing[connector] = now
                released = await self._aio.run(
                    self._rows.release_waiting, connector, now, 1, sorted(self._in_flight)
                )
                probed = probed or released > 0
        return probed

    async def _recovered(self, connector: str) -> None:
        """``connector`` took a record after failing: every row it was backing off is due now."""
        if self._failing.pop(connector, None) is None:
            return
        now = self._clock.now()
        released = await self._aio.run(
            self._rows.release_waiting, connector, now, None, sorted(self._in_flight)
        )
        log.info("%s takes records again; %d waiting records are due now", connector, released)
        if released:
            self.poke()

    async def _deliver_due(self) -> int:
        batch = await self._aio.run(
            self._rows.claim_due, self._clock.now(), self._batch, self._lease
        )
        store_errors: list[StoreError] = []
        delivered: list[tuple[Delivery, str]] = []
        if batch:
            async with asyncio.TaskGroup() as group:
                for rows in self._rounds(batch):
                    if len(rows) == 1:
                        group.create_task(self._deliver(rows[0], delivered, store_errors))
                    else:
                        group.create_task(self._deliver_many(rows, delivered, store_errors))
        if delivered:  # one transaction marks the batch (issue 20); a crash before it means
            # one more delivery of these rows after their lease: connectors are idempotent
            marks = [(delivery.id, crm_id) for delivery, crm_id in delivered]
            await self._aio.run(self._rows.mark_all_delivered, marks, self._clock.now())
            self._delivered += len(marks)
            for connector in dict.fromkeys(delivery.connector for delivery, _ in delivered):
                await self._recovered(connector)
        if store_errors:
            raise store_errors[0]
        self._store_recovered()
        return len(batch)

    def _rounds(self, batch: Sequence[Delivery]) -> list[list[Delivery]]:
        """Split a claimed batch into what each connector call takes: all of a connector's
        rows at once when it stores many records in one round, else one row per call."""
        many: dict[str, list[Delivery]] = {}
        rounds: list[list[Delivery]] = []
        for delivery in batch:
            if delivery.connector in self._batching:
                many.setdefault(delivery.connector, []).append(delivery)
            else:
                rounds.append([delivery])
        return list(many.values()) + rounds

    async def _deliver_many(
        self,
        rows: list[Delivery],
        delivered: list[tuple[Delivery, str]],
        store_errors: list[StoreError],
    ) -> None:
        """Deliver ``rows`` (one connector's) in one call. When the CRM cannot be reached, each
        row has failed as it would alone; when one record is refused, or anything else goes
        wrong, each is tried alone, so one bad record holds back no other."""
        connector = self._batching[rows[0].connector]
        async with self._slots:
            self._in_flight.update(row.id for row in rows)
            try:
                async with asyncio.timeout(self._timeout):
                    crm_ids = await connector.log_calls([row.record for row in rows])
            except (TimeoutError, CrmUnavailable) as exc:
                error = self._error_text(exc)
            except Exception as exc:  # a refused record, or a bug: find out which, one by one
                log.info("%d records to %s one by one: %s", len(rows), rows[0].connector, exc)
                error = None
            else:
                delivered.extend(zip(rows, crm_ids, strict=True))
                return
            finally:
                self._in_flight.difference_update(row.id for row in rows)
        for row in rows:
            if error is None:
                await self._deliver(row, delivered, store_errors)
            else:
                self._failures += 1
                await self._failed(row, error, store_errors)

    async def _deliver(
        self,
        delivery: Delivery,
        delivered: list[tuple[Delivery, str]],
        store_errors: list[StoreError],
    ) -> None:
        async with self._slots:
            self._in_flight.add(delivery.id)
            try:
                crm_id, error = await self._attempt(delivery)
            finally:
                self._in_flight.discard(delivery.id)
            if crm_id is not None:
                delivered.append((delivery, crm_id))
                return
            assert error is not None
            await self._failed(delivery, error, store_errors)

    async def _failed(self, delivery: Delivery, error: str, store_errors: list[StoreError]) -> None:
        """Record a failed attempt: the row's next one is due after its backoff."""
        now = self._clock.now()
        self._failing[delivery.connector] = now
        failures = delivery.attempts + 1
        retry_at = now + timedelta(seconds=self._policy.delay(failures, self._rand()))
        try:
            await self._aio.run(self._rows.mark_failed, delivery.id, error, retry_at, now)
        except StoreError as exc:
            store_errors.append(exc)
            return
        self._log_failure(delivery, failures, error, retry_at)

    async def _attempt(self, delivery: Delivery) -> tuple[str | None, str | None]:
        """Call the connector once; return ``(crm_id, None)`` or ``(None, error text)``."""
        connector = self._connectors.get(delivery.connector)
        if connector is None:
            self._failures += 1
            return None, f"no connector named {delivery.connector!r} is configured"
        try:
            async with asyncio.timeout(self._timeout):
                crm_id = await connector.log_call(delivery.record)
        except (TimeoutError, CtiError) as exc:
            error = self._error_text(exc)
        except Exception as exc:
            log.exception("connector %s failed on %s", delivery.connector, delivery.call_id)
            error = f"unexpected {type(exc).__name__}: {exc}"
        else:
            return str(crm_id), None
        self._failures += 1
        return None, error

    # -------------------------------------------------------------------------- helpers
    def _error_text(self, exc: TimeoutError | CtiError) -> str:
        """What a failed attempt leaves in its row (``last_error``)."""
        if isinstance(exc, CtiError):
            return f"{exc.error_id}: {exc.message}"
        return f"timed out after {self._timeout:g} s"

    async def _refresh_counts(self) -> None:
        self._counts = await self._aio.run(self._rows.outbox_counts, self._policy.stuck_after)

    def _log_failure(
        self, delivery: Delivery, failures: int, error: str, retry_at: datetime
    ) -> None:
        level = logging.ERROR if failures == self._policy.stuck_after else logging.WARNING
        log.log(
            level,
            "call record %s to %s failed (attempt %d%s): %s; next attempt %s",
            delivery.call_id,
            delivery.connector,
            failures,
            ", now stuck" if failures >= self._policy.stuck_after else "",
            error,
            retry_at.isoformat(timespec="seconds"),
        )

    def _store_trouble(self, exc: StoreError, failures: int) -> float:
        self._store_errors += 1
        delay = self._store_policy.delay(failures, self._rand())
        if not self._store_down:
            log.warning("outbox: store unavailable (%s); retrying in %.1f s", exc.message, delay)
        else:
            log.debug("outbox: store still unavailable (%s)", exc.message)
        self._store_down = True
        return delay

    def _store_recovered(self) -> None:
        if self._store_down:
            log.info("outbox: store reachable again")
            self._store_down = False
