"""The daemon's store: agents, groups, call notes, the call-record outbox and the event history.

:class:`Store` is synchronous (SQLAlchemy's engine is): the CLI and scripts call it directly,
and the daemon uses :attr:`Store.aio`, whose ``run`` calls the same methods on the store's own
bounded thread pool so the event loop never waits on the database. Every method is one transaction;
database failures surface as StoreUnavailable (retry later), Conflict or StoreError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cached_property
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import URL, Connection
from sqlalchemy.pool import StaticPool

from cti.config import StoreSettings
from cti.core.records import CallRecord
from cti.errors import NotFound, StoreError, ValidationFailed
from cti.store import agents as agent_rows
from cti.store import audit, calls, groups, live_calls, migrations
from cti.store import outbox_rows as rows
from cti.store.aio import AsyncStore
from cti.store.engine import create_store_engine, translated_errors, writer
from cti.store.values import (
    AgentEndpoint,
    AgentInfo,
    CallNote,
    Delivery,
    EventEntry,
    GroupInfo,
    GroupSpec,
    OutboxCounts,
    OutboxEntry,
    Role,
    check_username,
)

__all__ = ["KEEP", "Keep", "Store"]

_MAX_PASSWORD = 1024


class Keep(Enum):
    """The type of :data:`KEEP`: "leave this field as it is" in :meth:`Store.update_agent`."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """The daemon's database at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Run :meth:`upgrade` before first use. ``password_hasher`` sets the argon2 parameters (a
    password hashed with other parameters is rehashed the next time it is verified); ``clock``
    stamps rows (tests pass a fake one).
    """

    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        password_hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if pool_size < 1:
            raise ValidationFailed("the store needs at least one connection")
        self._engine = create_store_engine(
            url, pool_size=pool_size, connect_timeout=connect_timeout
        )
        self._writer = writer(self._engine)
        self._hasher = password_hasher or PasswordHasher()
        self.clock = clock
        if isinstance(self._engine.pool, StaticPool):
            pool_size = 1  # an in-memory SQLite database is one connection; use it serially
        self.executor = ThreadPoolExecutor(pool_size, thread_name_prefix="cti-store")
        self._closed = False

    @classmethod
    def from_settings(cls, settings: StoreSettings, **options: Any) -> Store:
        """Return the store the ``[store]`` section of the configuration describes."""
        return cls(
            settings.url,
            pool_size=settings.pool_size,
            connect_timeout=settings.connect_timeout_s,
            **options,
        )

    @property
    def url(self) -> URL:
        return self._engine.url

    @cached_property
    def aio(self) -> AsyncStore[Store]:
        """The same store for coroutines: ``await store.aio.run(store.groups)`` runs the method
        on the store's thread pool."""
        return AsyncStore(self, self.executor)

    # ------------------------------------------------------------------------ lifecycle
    def upgrade(self) -> None:
        """Create or update the schema to the newest revision (idempotent)."""
        migrations.upgrade(self._engine)

    def check_schema(self) -> None:
        """Raise StoreError unless the database is at the revision this code expects."""
        current, head = migrations.current_revision(self._engine), migrations.head_revision()
        if current != head:
            raise StoreError(
                f"the store at {self.url.render_as_string(hide_password=True)} is at schema "
                f"revision {current or '(none)'}, this version needs {head}; start the daemon "
                "(it upgrades the schema) or call Store.upgrade()",
                details={"current": current, "head": head},
            )

    def close(self) -> None:
        """Wait for running queries, stop the threads and close every connection."""
        if not self._closed:
            self._closed = True
            self.executor.shutdown(wait=True)
            self._engine.dispose()

    # --------------------------------------------------------------------------- agents
    def create_agent(
        self,
        username: str,
        *,
        password: str | None = None,
        display_name: str = "",
        email: str | None = None,
        role: Role | str = Role.AGENT,
        active: bool = True,
        endpoints: Sequence[AgentEndpoint | str] = (),
    ) -> AgentInfo:
        """Add an agent; raise Conflict if the username or one of the endpoints is taken."""
        values = {
            "username": check_username(username),
            "display_name": agent_rows.check_display_name(display_name),
            "email": agent_rows.check_email(email),
            "role": agent_rows.check_role(role).value,
            "active": active,
            "password_hash": None if password is None else self._hash(password),
            "created_at": self.clock(),
        }
        phones = agent_rows.as_endpoints(endpoints)
        with self._write("create_agent") as conn:
            key = agent_rows.insert_agent(conn, values)
            agent_rows.replace_endpoints(conn, key, phones)
            return agent_rows.agent_infos(conn, [username])[0]

    def update_agent(
        self,
        username: str,
        *,
        display_name: str | Keep = KEEP,
        email: str | Keep | None = KEEP,
        role: Role | str | Keep = KEEP,
        active: bool | Keep = KEEP,
        endpoints: Sequence[AgentEndpoint | str] | Keep = KEEP,
    ) -> AgentInfo:
        """Change what is given, leave the rest (:data:`KEEP`); raise NotFound for no agent."""
        values: dict[str, Any] = {}
        if not isinstance(display_name, Keep):
            values["display_name"] = agent_rows.check_display_name(display_name)
        if not isinstance(email, Keep):
            values["email"] = agent_rows.check_email(email)
        if not isinstance(role, Keep):
            values["role"] = agent_rows.check_role(role).value
        if not isinstance(active, Keep):
            values["active"] = active
        phones = None if isinstance(endpoints, Keep) else agent_rows.as_endpoints(endpoints)
        with self._write("update_agent") as conn:
            key = self._agent_id(conn, username)
            agent_rows.update_agent_row(conn, key, values)
            if phones is not None:
                agent_rows.replace_endpoints(conn, key, phones)
            return agent_rows.agent_infos(conn, [username])[0]

    def set_password(self, username: str, password: str | None) -> None:
        """Set (or with None, remove) the agent's password."""
        password_hash = None if password is None else self._hash(password)
        with self._write("set_password") as conn:
            key = self._agent_id(conn, username)
            agent_rows.update_agent_row(conn, key, {"password_hash": password_hash})

    def hash_password(self, password: str) -> str:
        """An argon2 hash of ``password`` with the store's parameters, for a module that writes
        it in a transaction of its own (:mod:`cti.accounts.passwords`)."""
        return self._hash(password)

    def get_agent(self, username: str) -> AgentInfo | None:
        with self._read("get_agent") as conn:
            found = agent_rows.agent_infos(conn, [username])
        return found[0] if found else None

    def agents(self) -> list[AgentInfo]:
        """Return every agent, by username."""
        with self._read("agents") as conn:
            return agent_rows.agent_infos(conn)

    def verify_password(self, username: str, password: str) -> AgentInfo | None:
        """Return the agent if ``password`` is theirs and they are active, else None.

        Unknown, inactive and password-less agents cost one argon2 verification too, so the
        time taken does not tell which usernames exist. A hash made with other argon2
        parameters than the store's is replaced by a new one.
        """
        with self._read("verify_password") as conn:
            row = agent_rows.agent_row(conn, username)
        stored = row.password_hash if row is not None and row.active else None
        try:
            self._hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or stored is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            with self._write("rehash_password") as conn:
                agent_rows.update_agent_row(conn, row.id, {"password_hash": self._hash(password)})
        return self.get_agent(username)

    def endpoint_owners(self) -> dict[str, str]:
        """Return endpoint -> username for every active agent's phones (pop targeting)."""
        with self._read("endpoint_owners") as conn:
            return agent_rows.endpoint_owners(conn)

    # --------------------------------------------------------------------------- groups
    def create_group(self, spec: GroupSpec) -> GroupInfo:
        """Add a group; raise Conflict for a taken name, DID or queue, NotFound for a member."""
        with self._write("create_group") as conn:
            key = groups.insert_group(conn, spec, self.clock())
            return groups.group_infos(conn, [key])[0]

    def update_group(self, name: str, spec: GroupSpec) -> GroupInfo:
        """Make group ``name`` what ``spec`` says (``spec.name`` may rename it)."""
        with self._write("update_group") as conn:
            key = groups.group_id(conn, name)
            if key is None:
                raise NotFound("no such group", details={"group": name})
            groups.replace_group(conn, key, spec, self.clock())
            return groups.group_infos(conn, [key])[0]

    def delete_group(self, name: str) -> bool:
        """Delete a group (its agents stay); False when there was no such group."""
        with self._write("delete_group") as conn:
            return groups.delete_group(conn, name)

    def get_group(self, name: str) -> GroupInfo | None:
        with self._read("get_group") as conn:
            key = groups.group_id(conn, name)
            return None if key is None else groups.group_infos(conn, [key])[0]

    def groups(self) -> list[GroupInfo]:
        """Return every group, by name."""
        with self._read("groups") as conn:
            return groups.group_infos(conn)

    def group_for(
        self, did: str | None = None, queue: str | None = None, agent: str | None = None
    ) -> GroupInfo | None:
        """Return the DID's group, else the queue's, else the agent's first; None if none."""
        with self._read("group_for") as conn:
            return groups.group_for(conn, did=did, queue=queue, agent=agent)

    def agent_group_names(self) -> dict[str, tuple[str, ...]]:
        """Return username -> group names, the group joined first first (for pop targeting)."""
        with self._read("agent_group_names") as conn:
            return groups.agent_group_names(conn)

    # ---------------------------------------------------------------------------- calls
    def save_notes(
        self, call_id: str, username: str, notes: str, disposition: str | None = None
    ) -> None:
        """Save what an agent typed about a call so far (during or after the call)."""
        with self._write("save_notes") as conn:
            calls.upsert_note(
                conn, call_id, username, notes=notes, disposition=disposition, now=self.clock()
            )

    def notes_for(self, call_id: str) -> list[CallNote]:
        """Return every agent's notes on a call, oldest save first."""
        with self._read("notes_for") as conn:
            return calls.notes_of(conn, call_id)

    def record_names(self, call_id: str, username: str) -> bool:
        """Whether the record of ended call ``call_id`` names ``username`` (rung or answering):
        what a call's pops were shown to, once no node remembers them."""
        with self._read("record_names") as conn:
            return calls.record_names(conn, call_id, username)

    def end_call(
        self, record: CallRecord, connectors: Sequence[str], wrapup_s: int | None = None
    ) -> bool:
        """Queue ``record``, with the call's notes merged in, for each connector; one transaction.

        Returns False and writes nothing when the call was queued before (a repeated end).
        ``wrapup_s`` is how long delivery waits for wrap-up notes; None looks up the answering
        agent's group (the daemon passes it from its in-memory directory: one query less).
        """
        return self.end_calls([(record, wrapup_s)], connectors)[0]

    def end_calls(
        self, ends: Sequence[tuple[CallRecord, int | None]], connectors: Sequence[str]
    ) -> list[bool]:
        """:meth:`end_call` for many calls (record, wrap-up) in one transaction.

        The daemon's record writer gathers the calls that ended within a tick: under load one
        transaction and four statements then serve them all. Returns, per call, whether it was
        queued now.
        """
        names = calls.check_connectors(connectors)
        with self._write("end_call") as conn:
            queued = calls.queue_records(conn, ends, names, self.clock())
            live_calls.delete_live(conn, [record.call_id for record, _ in ends])
            return queued

    # --------------------------------------------------------------------------- live calls
    def save_live_calls(
        self, snapshots: Mapping[str, Mapping[str, Any]], gone: Sequence[str] = ()
    ) -> None:
        """Save the snapshots of calls up now (call id -> snapshot); forget ``gone`` ones."""
        with self._write("save_live_calls") as conn:
            live_calls.save_live(conn, snapshots, gone, self.clock())

    def live_calls(self) -> list[tuple[str, str, dict[str, Any], datetime]]:
        """Every saved live call as (call id, server, snapshot, saved at)."""
        with self._read("live_calls") as conn:
            return live_calls.load_live(conn)

    # --------------------------------------------------------------------------- outbox
    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Delivery]:
        """Claim rows due at ``now`` for ``lease_seconds`` (see :mod:`cti.store.outbox_rows`)."""
        with self._write("claim_due") as conn:
            return rows.claim_due(conn, now, limit, now + timedelta(seconds=lease_seconds))

    def mark_delivered(self, row_id: int, crm_id: str, now: datetime) -> None:
        with self._write("mark_delivered") as conn:
            rows.mark_delivered(conn, row_id, crm_id, now)

    def mark_all_delivered(self, marks: Sequence[tuple[int, str]], now: datetime) -> None:
        """Mark many rows (row id, crm id) delivered in one transaction (a writer's batch)."""
        with self._write("mark_delivered") as conn:
            rows.mark_all_delivered(conn, marks, now)

    def mark_failed(
        self, row_id: int, error: str, next_attempt_at: datetime, now: datetime
    ) -> None:
        with self._write("mark_failed") as conn:
            rows.mark_failed(conn, row_id, error, next_attempt_at, now)

    def release_waiting(
        self,
        connector: str,
        now: datetime,
        limit: int | None = None,
        exclude: Sequence[int] = (),
    ) -> int:
        """Make backed-off rows of ``connector`` due now (see :mod:`cti.store.outbox_rows`)."""
        with self._write("release_waiting") as conn:
            return rows.release_waiting(conn, connector, now, limit, exclude)

    def outbox_counts(self, stuck_after: int) -> OutboxCounts:
        with self._read("outbox_counts") as conn:
            return rows.counts(conn, stuck_after)

    def next_outbox_due(self) -> datetime | None:
        """Return when the next undelivered row is due, None when nothing waits."""
        with self._read("next_outbox_due") as conn:
            return rows.next_due(conn)

    def outbox_entries(
        self,
        *,
        stuck_after: int | None = None,
        include_delivered: bool = False,
        call_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        """Return undelivered rows (with ``stuck_after``: those failed that often), oldest first."""
        with self._read("outbox_entries") as conn:
            return rows.entries(
                conn,
                stuck_after=stuck_after,
                include_delivered=include_delivered,
                call_id=call_id,
                limit=limit,
            )

    def retry_outbox(self, row_ids: Sequence[int] | None = None) -> int:
        """Make the undelivered rows ``row_ids`` (None: all) due now; return how many."""
        with self._write("retry_outbox") as conn:
            return rows.make_due(conn, row_ids, self.clock())

    # --------------------------------------------------------------------------- events
    def record_event(
        self, kind: str, details: Mapping[str, Any] | None = None, actor: str | None = None
    ) -> int:
        """Append an event to the history and return its id."""
        with self._write("record_event") as conn:
            return audit.append_event(conn, kind, details or {}, actor, self.clock())

    def events(
        self, *, kind: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[EventEntry]:
        """Return events, newest first."""
        with self._read("events") as conn:
            return audit.recent_events(conn, kind=kind, since=since, limit=limit)

    # ------------------------------------------------------------- other modules' tables
    @contextmanager
    def reading(self, operation: str) -> Iterator[Connection]:
        """One read for modules that keep their own tables here (cti.admin); errors translated."""
        with self._read(operation) as conn:
            yield conn

    @contextmanager
    def writing(self, operation: str) -> Iterator[Connection]:
        """One write transaction, as :meth:`reading`; it commits when the block ends normally."""
        with self._write(operation) as conn:
            yield conn

    # -------------------------------------------------------------------------- helpers
    @contextmanager
    def _read(self, operation: str) -> Iterator[Connection]:
        self._check_open()
        with translated_errors(operation), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, operation: str) -> Iterator[Connection]:
        self._check_open()
        with translated_errors(operation), self._writer.begin() as conn:
            yield conn

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _agent_id(self, conn: Connection, username: str) -> int:
        row = agent_rows.agent_row(conn, username)
        if row is None:
            raise NotFound("no such agent", details={"username": username[:80]})
        return int(row.id)

    def _hash(self, password: str) -> str:
        if not 1 <= len(password) <= _MAX_PASSWORD:
            raise ValidationFailed(f"a password is 1 to {_MAX_PASSWORD} characters")
        return self._hasher.hash(password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("not a password anyone has")
