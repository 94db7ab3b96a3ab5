"""The built-in SQL CRM as a :class:`~crm_connectors.base.CrmConnector` (the default connector).

SQLAlchemy's engine is synchronous, so every query runs on a small thread pool the connector
owns (as many threads as pooled connections): the event loop never waits on the database, and
at most ``max_workers`` queries run at once however many calls arrive together. Benchmarks and
scripts call :meth:`BuiltinCrm.lookup_sync` directly on their own thread.

Lookups, the hot path, run as one statement on a connection each thread keeps
(:mod:`.dedicated`), on threads of their own: a pop never waits behind call records, notes or
searches that hold every worker (the outbox delivers four records at once, and on SQLite each
waits its turn for the write lock). Everything else checks connections out of the engine's pool.

On a SQLite file a lookup runs on the event loop itself: one indexed read of a local file
(~100 us) costs less than the trip to a thread and back, two wake-ups that each wait behind
whatever holds the loop or the interpreter lock. Its connection never waits for a lock (WAL
readers seldom need one): a lookup SQLite refuses at once goes to a lookup thread instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy import URL, Engine
from sqlalchemy.pool import StaticPool

from crm_connectors.base import (
    DEFAULT_LOOKUP_OPTIONS,
    CallHistoryEntry,
    Contact,
    LookupOptions,
    LookupResult,
    Match,
    NewContact,
    RecordRef,
    SearchHit,
)
from crm_connectors.builtin import reads, writes
from crm_connectors.builtin.dedicated import LookupConnections
from crm_connectors.builtin.engine import create_crm_engine, translated_errors, writer
from crm_connectors.builtin.rows import CONTACT, RefMaker
from crm_connectors.builtin.runner import DriverRunner, PreparedCache, driver_runner
from crm_connectors.builtin.search import search_records
from cti.core.records import CallRecord
from cti.errors import ConfigError, CrmError, CrmTimeout, CrmUnavailable
from cti.numbers import E164_PATTERN, RegionSource, is_known_region, region_source, to_e164

__all__ = ["BuiltinCrm"]

T = TypeVar("T")

_LOOKUP_WORKERS = 2  # lookups are one indexed statement each: two threads keep up with bursts
_MAX_LIMIT = 500  # search and history: more rows than a screen shows is a mistake, not a need


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BuiltinCrm:
    """The CRM in the product's own SQL database (SQLite by default, or PostgreSQL).

    Build it with :meth:`from_url` (it then owns, and on :meth:`close` disposes, its engine) or
    around an engine from :func:`~crm_connectors.builtin.engine.create_crm_engine`. The schema
    must exist: run :func:`crm_connectors.builtin.migrations.upgrade` first.
    ``default_region`` (ISO 3166, e.g. ``GB``, or a RegionSource read at each use, so an admin's
    change applies at once) is how national numbers are read.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        default_region: str | RegionSource,
        name: str = "builtin",
        record_url: str | None = None,
        max_workers: int = 4,
        timeout: float | None = 10.0,
        owns_engine: bool = False,
        clock: Callable[[], datetime] = _utc_now,
        inline_lookups: bool = True,
    ) -> None:
        regions = region_source(default_region)
        if not is_known_region(regions.default_region()):
            raise ConfigError(
                "unknown default region", details={"region": regions.default_region()}
            )
        if max_workers < 1 or (timeout is not None and timeout <= 0):
            raise ConfigError("max_workers and timeout must be positive")
        shared = isinstance(engine.pool, StaticPool)
        if shared:
            max_workers = 1  # an in-memory SQLite database is one connection; share it serially
        self.name = name
        self._engine = engine
        self._writer = writer(engine)
        self._regions = regions
        self._refs = RefMaker(name, record_url)
        self._timeout = timeout
        self._owns_engine = owns_engine
        self._clock = clock
        self._prepared: PreparedCache = {}
        # An in-memory database's one connection cannot be taken out of its pool.
        self._lookups = None if shared else LookupConnections(engine)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix=f"crm-{name}")
        self._lookup_executor = (
            self._executor
            if self._lookups is None
            else ThreadPoolExecutor(_LOOKUP_WORKERS, thread_name_prefix=f"crm-{name}-lookup")
        )
        self._inline = (
            LookupConnections(engine, sqlite_busy_ms=0)
            if inline_lookups and self._lookups is not None and engine.dialect.name == "sqlite"
            else None
        )
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        default_region: str | RegionSource,
        name: str = "builtin",
        record_url: str | None = None,
        max_workers: int = 4,
        timeout: float | None = 10.0,
        connect_timeout: float = 5.0,
    ) -> BuiltinCrm:
        """Return a connector on its own engine for ``url`` (``sqlite:///path`` or
        ``postgresql+psycopg://user@host/db``), with one pooled connection per worker."""
        engine = create_crm_engine(url, pool_size=max_workers, connect_timeout=connect_timeout)
        return cls(
            engine,
            default_region=default_region,
            name=name,
            record_url=record_url,
            max_workers=max_workers,
            timeout=timeout,
            owns_engine=True,
        )

    @property
    def _region(self) -> str:
        return self._regions.default_region().upper()

    async def lookup(
        self, number: str, options: LookupOptions = DEFAULT_LOOKUP_OPTIONS
    ) -> LookupResult:
        """Find who is calling from ``number``; a number that does not parse matches nobody."""
        if to_e164(number, self._region) is None:
            return LookupResult(number, None)
        if self._inline is not None:
            try:
                return self._lookup_on(self._inline, number, options)
            except CrmUnavailable:
                pass  # SQLite refused at once (a lock held): the lookup waits on a thread
        return await self._run(
            "lookup", lambda: self.lookup_sync(number, options), self._lookup_executor
        )

    def lookup_sync(
        self, number: str, options: LookupOptions = DEFAULT_LOOKUP_OPTIONS
    ) -> LookupResult:
        """Run :meth:`lookup` on the calling thread (benchmarks, scripts; never the loop).

        A number already in E.164 form is looked up as it is: every stored number is canonical
        E.164, so a match proves it canonical too, and only a miss pays for the parser (which
        tells "nobody has it" from "not a number", or finds the canonical form to look up).
        """
        return self._lookup_on(self._lookups, number, options)

    def _lookup_on(
        self, connections: LookupConnections | None, number: str, options: LookupOptions
    ) -> LookupResult:
        self._check_open()
        with translated_errors("lookup"):
            if E164_PATTERN.fullmatch(number):
                matches = self._matches(connections, number, options)
                if matches:
                    return LookupResult(number, number, matches)
            e164 = to_e164(number, self._region)
            if e164 is None:
                return LookupResult(number, None)
            if e164 == number:
                return LookupResult(number, e164, ())  # looked up above
            return LookupResult(number, e164, self._matches(connections, e164, options))

    def _matches(
        self, connections: LookupConnections | None, e164: str, options: LookupOptions
    ) -> tuple[Match, ...]:
        if connections is not None:
            return connections.lookup(e164, options, self._refs)
        with self._driver() as runner:
            return reads.lookup(runner, e164, options, self._refs)

    async def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Find contacts, accounts and cases by name, number, email or case number."""
        limit = min(limit, _MAX_LIMIT)
        return await self._run("search", lambda: self._search(query, limit))

    async def history(self, target: str | RecordRef, limit: int = 20) -> list[CallHistoryEntry]:
        """Return past calls with a raw number or one record, newest first."""
        limit = min(limit, _MAX_LIMIT)
        if limit <= 0:
            return []
        return await self._run("history", lambda: self._history(target, limit))

    async def log_call(self, record: CallRecord) -> str:
        """Store a finished call once; return its key (the same key for a repeated call_id)."""
        return await self._run("log_call", lambda: self._log_calls([record])[0])

    async def log_calls(self, records: Sequence[CallRecord]) -> list[str]:
        """:meth:`log_call` for many records in one transaction; each one's key, in order.

        The outbox hands over every record it claimed for this CRM at once: one trip to a
        worker thread, one transaction and a fixed number of statements, where one record at
        a time cost each of those per call (issue 20). All or nothing: when one record is
        refused (ValidationFailed) none is stored, and the caller tries them one by one.
        """
        records = list(records)
        return await self._run("log_call", lambda: self._log_calls(records))

    async def link_number(self, number: str, contact: RecordRef) -> None:
        """Add ``number`` to a contact's phones; linking it twice does nothing."""
        contact_id = self._refs.own_id(contact, CONTACT)
        await self._run("link_number", lambda: self._link_number(number, contact_id))

    async def create_contact(self, new: NewContact) -> Contact:
        """Create a contact with its phones and return it as stored."""
        return await self._run("create_contact", lambda: self._create_contact(new))

    async def close(self) -> None:
        """Wait for running queries, stop the threads, dispose of an owned engine."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._shutdown)

    def close_sync(self) -> None:
        """Do what :meth:`close` does, from synchronous code."""
        if not self._closed:
            self._closed = True
            self._shutdown()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(
        self, operation: str, call: Callable[[], T], executor: ThreadPoolExecutor | None = None
    ) -> T:
        self._check_open()
        try:
            future = asyncio.get_running_loop().run_in_executor(executor or self._executor, call)
        except RuntimeError as exc:  # the executor shut down after _check_open
            raise CrmError("the CRM connector is closed", details={"connector": self.name}) from exc
        if self._timeout is None:
            return await future
        try:
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError as exc:
            raise CrmTimeout(
                f"the CRM database did not answer within {self._timeout:g} s",
                details={"operation": operation, "timeout_seconds": self._timeout},
            ) from exc

    def _search(self, query: str, limit: int) -> list[SearchHit]:
        with translated_errors("search"), self._engine.connect() as conn:
            return search_records(conn, query, limit, self._refs, self._region)

    def _history(self, target: str | RecordRef, limit: int) -> list[CallHistoryEntry]:
        if isinstance(target, RecordRef):
            with translated_errors("history"), self._driver() as runner:
                return reads.history_of_record(runner, target, limit, self._refs)
        e164 = to_e164(target, self._region)
        if e164 is None:
            return []
        with translated_errors("history"), self._driver() as runner:
            return reads.history_of_number(runner, e164, limit)

    def _log_calls(self, records: Sequence[CallRecord]) -> list[str]:
        with translated_errors("log_call"), self._writer.begin() as conn:
            return writes.log_calls(conn, records, self._region, self._clock())

    def _link_number(self, number: str, contact_id: int) -> None:
        with translated_errors("link_number"), self._writer.begin() as conn:
            writes.link_number(conn, number, contact_id, self._region)

    def _create_contact(self, new: NewContact) -> Contact:
        with translated_errors("create_contact"), self._writer.begin() as conn:
            key = writes.create_contact(conn, new, self._refs, self._region, self._clock())
            return reads.contacts_by_ids(conn, [key], self._refs)[key]

    def _driver(self) -> AbstractContextManager[DriverRunner]:
        return driver_runner(self._engine, self._prepared)

    def _check_open(self) -> None:
        if self._closed:
            raise CrmError("the CRM connector is closed", details={"connector": self.name})

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        self._lookup_executor.shutdown(wait=True)
        if self._lookups is not None:
            self._lookups.close()
        if self._inline is not None:
            self._inline.close()
        if self._owns_engine:
            self._engine.dispose()
