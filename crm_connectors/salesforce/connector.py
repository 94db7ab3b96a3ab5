"""Salesforce as a :class:`~crm_connectors.base.CrmConnector`, through simple-salesforce.

simple-salesforce is synchronous, so every request runs on a thread pool the connector owns
(``max_concurrent_requests`` threads) via :class:`SalesforceClient`, which also logs in, renews
an expired session once, retries transient failures and caps concurrent requests. The event loop
only builds queries, awaits, and maps answers. A lookup is one SOSL search, then the matched
records' open cases and call Tasks as two SOQL queries in parallel; its result is cached for
``cache_ttl_s``. When the caller cancels (the pop timeout), queued requests are dropped and a
running one is the last: see :mod:`crm_connectors.salesforce.client`.

Lookups, the hot path, run on threads of their own (two): a pop never waits behind call
records, number links, new contacts or searches that hold every worker (the outbox delivers four
records at once, and a write that is retrying keeps its thread through its backoff). The
client's request slots stay shared: they are the org's limit, held only while a request is on
the wire, never during a backoff.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import TracebackType
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo

import requests
from simple_salesforce.api import Salesforce

from crm_connectors.base import (
    DEFAULT_LOOKUP_OPTIONS,
    CallHistoryEntry,
    Contact,
    LookupOptions,
    LookupResult,
    NewContact,
    RecordRef,
    SearchHit,
)
from crm_connectors.salesforce import queries, writes
from crm_connectors.salesforce.cache import TtlCache
from crm_connectors.salesforce.client import SalesforceClient
from crm_connectors.salesforce.failures import Backoff
from crm_connectors.salesforce.lookup import LookupPlan, Row
from crm_connectors.salesforce.mapping import (
    Refs,
    history_entry,
    readable,
    search_hits,
    task_body,
)
from crm_connectors.salesforce.settings import SalesforceSettings
from crm_connectors.salesforce.transport import new_session
from cti.core.records import CallRecord, Direction
from cti.errors import CrmError, CrmTimeout, ValidationFailed
from cti.numbers import to_e164

__all__ = ["SalesforceCrm"]

T = TypeVar("T")
Unit = Callable[[Salesforce], T]

_LOOKUP_WORKERS = 2  # a search, then two queries at once: two threads keep up with bursts
_MAX_LIMIT = 200  # search and history rows: more than a screen shows is a mistake
_WRITE_STRIPES = 16
_PERSONS = ("Contact", "Lead")
# Relating a call record to the org when it is logged: the matches only, no cases or history.
_RELATE = LookupOptions(max_matches=10, max_open_cases=0, max_history=0)


class SalesforceCrm:
    """The CRM connector for one Salesforce org (see the module docstring).

    ``session`` replaces the connector's own HTTP session (a proxy, a test fake); mount a
    :class:`~crm_connectors.salesforce.transport.TimeoutAdapter` on it to keep request
    timeouts. ``clock`` (monotonic seconds) drives the lookup cache, ``backoff`` the retries.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._client = SalesforceClient(settings, session or new_session(settings), backoff=backoff)
        self._executor = ThreadPoolExecutor(
            settings.max_concurrent_requests, thread_name_prefix=f"crm-{settings.name}"
        )
        self._lookup_executor = ThreadPoolExecutor(
            _LOOKUP_WORKERS, thread_name_prefix=f"crm-{settings.name}-lookup"
        )
        self._cache: TtlCache[tuple[str, LookupOptions], LookupResult] = TtlCache(
            settings.cache_ttl_s, settings.cache_size, clock
        )
        self._zone = ZoneInfo(settings.activity_timezone)
        self._write_locks = tuple(threading.Lock() for _ in range(_WRITE_STRIPES))
        self._closed = False

    @property
    def client(self) -> SalesforceClient:
        """The synchronous client underneath (its ``logins`` count, for tests and metrics)."""
        return self._client

    async def lookup(
        self, number: str, options: LookupOptions = DEFAULT_LOOKUP_OPTIONS
    ) -> LookupResult:
        """Find who is calling from ``number``; a number that does not parse matches nobody
        and costs no request."""
        e164 = to_e164(number, self._settings.default_region)
        if e164 is None:
            return LookupResult(number, None)
        cached = self._cache.get((e164, options))
        if cached is not None:
            return replace(cached, number=number)
        settings = self._settings
        sosl = queries.phone_search(
            e164,
            objects=settings.lookup_objects,
            contact_phones=settings.contact_phone_fields,
            lead_phones=settings.lead_phone_fields,
            limit=options.max_matches,
        )
        found = await self._run(
            "lookup", lambda api: api.search(sosl), executor=self._lookup_executor
        )
        with readable("lookup"):
            plan = LookupPlan.of(_search_records(found), self._refs(), settings, options)
        cases, tasks = await self._both(
            ("open cases", plan.cases_query()), ("call history", plan.tasks_query())
        )
        with readable("lookup"):
            result = LookupResult(number, e164, plan.matches(cases, tasks))
        self._cache.put((e164, options), result)
        return result

    async def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Find contacts, accounts and cases by name, number, email or case number."""
        limit = min(limit, _MAX_LIMIT)
        e164 = to_e164(query, self._settings.default_region)
        sosl = queries.text_search(query, limit, e164) if limit > 0 else None
        if sosl is None:
            return []
        found = await self._run("search", lambda api: api.search(sosl))
        with readable("search"):
            return search_hits(_search_records(found), self._refs(), limit)

    async def history(self, target: str | RecordRef, limit: int = 20) -> list[CallHistoryEntry]:
        """Return the call Tasks of a number's records, or of one record, newest first.

        A reference to another system's record has no history here.
        """
        limit = min(limit, _MAX_LIMIT)
        if limit <= 0:
            return []
        if isinstance(target, RecordRef):
            if target.system != self.name:
                return []
            persons, accounts = _history_owner(target)
        else:
            options = LookupOptions(max_matches=10, max_history=0, max_open_cases=0)
            found = await self.lookup(target, options)
            persons = [m.ref.record_id for m in found.matches if m.ref.object_type in _PERSONS]
            accounts = [m.ref.record_id for m in found.matches if m.ref.object_type == "Account"]
            if not (persons or accounts):
                return []
        soql = queries.tasks_query(persons, accounts, limit)
        rows = await self._run("history", lambda api: _query_records(api, soql))
        with readable("history"):
            return [history_entry(row) for row in rows]

    async def log_call(self, record: CallRecord) -> str:
        """Log a finished call as a completed call Task once; return the Task Id (the same Id
        when the same call_id is logged again)."""
        settings = self._settings
        record = await self._related(record)
        body = task_body(
            record,
            system=self.name,
            region=settings.default_region,
            owner_id=settings.agent_users.get(record.answered_by or "", settings.default_owner_id),
            zone=self._zone,
            recording_field=settings.recording_field,
        )
        field = settings.call_id_field
        unit: Unit[str]
        if field is not None:
            unit = functools.partial(
                writes.upsert_task, field=field, call_id=record.call_id, body=body
            )
        else:
            lock = self._write_locks[hash(record.call_id) % _WRITE_STRIPES]
            unit = functools.partial(
                writes.insert_task_once, call_id=record.call_id, body=body, lock=lock
            )
        task_id = await self._run("log_call", unit)
        self._forget(record.caller_number, record.called_number)
        return task_id

    async def _related(self, record: CallRecord) -> CallRecord:
        """Return ``record`` with this org's matches: when it holds none (the caller lookup
        failed, during an outage, or found nobody then), search the other party's number now,
        so the Task is related to the caller all the same."""
        if record.direction is Direction.INTERNAL or any(
            match.system == self.name for match in record.matches
        ):
            return record
        inbound = record.direction is Direction.INBOUND
        found = await self.lookup(
            record.caller_number if inbound else record.called_number, _RELATE
        )
        return replace(record, matches=(*record.matches, *found.crm_matches()))

    async def link_number(self, number: str, contact: RecordRef) -> None:
        """Add ``number`` to a Contact's or Lead's first empty phone field; idempotent."""
        settings = self._settings
        e164 = to_e164(number, settings.default_region)
        if e164 is None:
            raise ValidationFailed("not a phone number", details={"number": number[:64]})
        object_name = self._own(contact, _PERSONS)
        fields = (
            settings.contact_phone_fields
            if object_name == "Contact"
            else settings.lead_phone_fields
        )
        record_id = queries.checked_id(contact.record_id)
        unit = functools.partial(
            writes.link_number,
            object_name=object_name,
            record_id=record_id,
            e164=e164,
            phone_fields=fields,
            region=settings.default_region,
        )
        if await self._run("link_number", unit):
            self._forget(e164)

    async def create_contact(self, new: NewContact) -> Contact:
        """Create a Contact (phones in the configured phone fields, in order) and return it."""
        data = self._contact_fields(new)
        created = await self._run(
            "create_contact",
            lambda api: writes.sobject(api, "Contact").create(data),
            idempotent=False,
        )
        record_id = created.get("id") if isinstance(created, Mapping) else None
        if not isinstance(record_id, str):
            raise CrmError("Salesforce created a contact without telling its id")
        fields = queries.contact_fields(self._settings.contact_phone_fields)
        row = await self._run(
            "create_contact", lambda api: writes.read_record(api, "Contact", fields, record_id)
        )
        with readable("create_contact"):
            contact = self._refs().contact(row, self._settings.contact_phone_fields)
        self._forget(*contact.phones)
        return contact

    async def close(self) -> None:
        """Stop the worker threads (running requests finish) and close the connections."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._shutdown)

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
        self,
        operation: str,
        unit: Unit[T],
        *,
        idempotent: bool = True,
        executor: ThreadPoolExecutor | None = None,
    ) -> T:
        """Run ``unit`` on a worker thread (of ``executor``, the workers' by default) within
        ``operation_timeout_s``; on cancellation or timeout, tell the thread to start nothing
        more."""
        if self._closed:
            raise CrmError("the CRM connector is closed", details={"connector": self.name})
        cancel = threading.Event()
        call = functools.partial(
            self._client.call, operation, unit, cancel=cancel, idempotent=idempotent
        )
        future = asyncio.get_running_loop().run_in_executor(executor or self._executor, call)
        timeout = self._settings.operation_timeout_s
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError as exc:
            raise CrmTimeout(
                f"Salesforce did not answer within {timeout:g} s",
                details={"operation": operation, "timeout_seconds": timeout},
            ) from exc
        finally:
            cancel.set()

    async def _both(
        self, first: tuple[str, str | None], second: tuple[str, str | None]
    ) -> tuple[list[Row], list[Row]]:
        """Run a lookup's two optional SOQL queries at once, on the lookup threads; a failure
        of either cancels the other."""

        async def rows(operation: str, soql: str | None) -> list[Row]:
            if soql is None:
                return []
            return await self._run(
                operation, lambda api: _query_records(api, soql), executor=self._lookup_executor
            )

        error: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:
                one = group.create_task(rows(*first))
                two = group.create_task(rows(*second))
        except ExceptionGroup as failed:
            error = failed.exceptions[0]  # a CrmError whose cause is the library's exception
        if error is not None:
            raise error
        return one.result(), two.result()

    def _refs(self) -> Refs:
        return Refs(self.name, self._client.instance_url, self._settings.default_region)

    def _own(self, ref: RecordRef, object_types: Sequence[str]) -> str:
        if ref.system != self.name or ref.object_type not in object_types:
            raise ValidationFailed(
                f"expected a {self.name} {' or '.join(object_types)} reference",
                details={"system": ref.system, "object_type": ref.object_type},
            )
        return ref.object_type

    def _contact_fields(self, new: NewContact) -> dict[str, object]:
        region, phone_fields = self._settings.default_region, self._settings.contact_phone_fields
        phones = []
        for raw in new.phones:
            e164 = to_e164(raw, region)
            if e164 is None:
                raise ValidationFailed("not a phone number", details={"number": raw[:64]})
            phones.append(e164)
        phones = list(dict.fromkeys(phones))
        if len(phones) > len(phone_fields):
            raise ValidationFailed(
                f"a contact holds at most {len(phone_fields)} numbers here",
                details={"fields": list(phone_fields)},
            )
        first, last = new.first_name.strip(), new.last_name.strip()
        data: dict[str, object] = {"FirstName": first if last else "", "LastName": last or first}
        data.update(zip(phone_fields, phones, strict=False))
        if new.email:
            data["Email"] = new.email
        if new.title:
            data["Title"] = new.title
        if new.account is not None:
            self._own(new.account, ("Account",))
            data["AccountId"] = queries.checked_id(new.account.record_id)
        return data

    def _forget(self, *numbers: str) -> None:
        """Drop cached lookups of these numbers: a write changed what they would find."""
        region = self._settings.default_region
        changed = {to_e164(n, region) for n in numbers if n} - {None}
        if changed:
            self._cache.discard_where(lambda key: key[0] in changed)

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._lookup_executor.shutdown(wait=True, cancel_futures=True)
        self._client.close()


def _history_owner(ref: RecordRef) -> tuple[list[str], list[str]]:
    record_id = queries.checked_id(ref.record_id)
    if ref.object_type in _PERSONS:
        return [record_id], []
    if ref.object_type == "Account":
        return [], [record_id]
    raise ValidationFailed(
        "history is kept for contacts, leads and accounts",
        details={"object_type": ref.object_type},
    )


def _search_records(found: Any) -> list[Row]:
    records = found.get("searchRecords") if isinstance(found, Mapping) else None
    return [row for row in records or () if isinstance(row, Mapping)]


def _query_records(api: Salesforce, soql: str) -> list[Row]:
    found = api.query(soql)
    records = found.get("records") if isinstance(found, Mapping) else None
    return [row for row in records or () if isinstance(row, Mapping)]
