"""Web sessions in the store: the web edge asks here, on every request, whether one still holds.

A signed cookie proves the daemon issued a session; this book says whether it may still be used.
A session ends when its user logs out (``end``), after ``idle_s`` without use, at its expiry,
and as soon as the account it was issued for changes under it: deleted, deactivated, another
role, another password. The account checks compare the session row with the user's row at each
use, so every path that changes an account (the admin console, an import, a script on the store)
ends its sessions without having to know about them. Rows survive a restart, so a logged-out
cookie stays dead.

Use is recorded at most every ``touch_every_s`` per session (one write a minute, not one per
request), so the idle timeout is exact to that much.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from cti.store import Store
from cti.store.models import agents
from cti.store.session_tables import web_sessions

__all__ = ["SessionBook", "password_tag", "session_key"]

_BATCH = 500  # session ids per query when sweeping open sockets


def session_key(session_id: str) -> str:
    """The row key of a session: a hash, so the table holds nothing a cookie could be made of."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def password_tag(password_hash: str | None) -> str:
    """What a session row keeps of the password hash its user logged in with."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()


def _verdict(row: Row[Any], now: datetime) -> str | None:
    """Why the session of ``row`` (joined with its agent) has ended; None while it holds."""
    checks = (
        (row.ended_at is not None, row.end_reason or "logged out"),
        (row.expires_at <= now, "expired"),
        (row.last_seen_at + timedelta(seconds=row.idle_s) <= now, "idle too long"),
        (row.agent_id is None, "account removed"),
        (not row.active, "account disabled"),
        (row.agent_role != row.role, "role changed"),
        (password_tag(row.password_hash) != row.password_tag, "password changed"),
    )
    return next((reason for ended, reason in checks if ended), None)


class SessionBook:
    """The store's web sessions (the ``SessionRegistry`` the web edge checks every request by).

    Coroutine methods run on the store's threads; ``register`` is the synchronous form of
    :meth:`begin` for scripts and benchmarks that seed sessions.
    """

    def __init__(
        self,
        store: Store,
        *,
        touch_every_s: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._touch_every = timedelta(seconds=touch_every_s)
        self._clock = wall_clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def begin(
        self, session_id: str, username: str, role: str, expires_at: float, idle_s: float
    ) -> bool:
        """Record a new session; False when the account no longer is ``username`` as ``role``."""
        return await self._store.aio.run(
            self.register, session_id, username, role, expires_at, idle_s
        )

    async def check(self, session_id: str) -> str | None:
        """Why the session ended (None: it holds, and counts as used now)."""
        return (await self._store.aio.run(self._sweep, [session_id])).get(session_id)

    async def end(self, session_id: str, reason: str) -> None:
        """End a session for good (logout); ending it twice keeps the first reason."""
        await self._store.aio.run(self._end, session_id, reason)

    async def ended(self, session_ids: Collection[str]) -> dict[str, str]:
        """Which of ``session_ids`` have ended, and why; the others count as used now."""
        return await self._store.aio.run(self._sweep, list(session_ids))

    # ------------------------------------------------------------------ on the store's threads
    def register(
        self, session_id: str, username: str, role: str, expires_at: float, idle_s: float
    ) -> bool:
        now = self._now()
        with self._store.writing("sessions.begin") as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
            agent = conn.execute(
                select(agents.c.password_hash, agents.c.role, agents.c.active).where(
                    agents.c.username == username
                )
            ).first()
            if agent is None or not agent.active or agent.role != role:
                return False
            conn.execute(
                insert(web_sessions).values(
                    id=session_key(session_id),
                    username=username,
                    role=role,
                    password_tag=password_tag(agent.password_hash),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=datetime.fromtimestamp(expires_at, UTC),
                    idle_s=max(1, round(idle_s)),
                )
            )
        return True

    def _end(self, session_id: str, reason: str) -> None:
        with self._store.writing("sessions.end") as conn:
            conn.execute(
                update(web_sessions)
                .where(web_sessions.c.id == session_key(session_id))
                .where(web_sessions.c.ended_at.is_(None))
                .values(ended_at=self._now(), end_reason=reason[:40])
            )

    def _sweep(self, session_ids: list[str]) -> dict[str, str]:
        """Return the ended ones of ``session_ids`` with why; record use of the others."""
        now = self._now()
        keys = {session_key(sid): sid for sid in session_ids}
        rows: dict[str, Row[Any]] = {}
        with self._store.reading("sessions.check") as conn:
            for start in range(0, len(keys), _BATCH):
                rows.update(_rows(conn, list(keys)[start : start + _BATCH]))
        ended: dict[str, str] = {}
        stale: list[str] = []
        for key, sid in keys.items():
            row = rows.get(key)
            reason = "unknown session" if row is None else _verdict(row, now)
            if reason is not None:
                ended[sid] = reason
            elif row is not None and row.last_seen_at + self._touch_every <= now:
                stale.append(key)
        if stale:
            with self._store.writing("sessions.touch") as conn:
                for start in range(0, len(stale), _BATCH):
                    conn.execute(
                        update(web_sessions)
                        .where(web_sessions.c.id.in_(stale[start : start + _BATCH]))
                        .values(last_seen_at=now)
                    )
        return ended


def _rows(conn: Connection, keys: list[str]) -> Mapping[str, Row[Any]]:
    query = (
        select(
            web_sessions,
            agents.c.id.label("agent_id"),
            agents.c.role.label("agent_role"),
            agents.c.active,
            agents.c.password_hash,
        )
        .outerjoin(agents, agents.c.username == web_sessions.c.username)
        .where(web_sessions.c.id.in_(keys))
    )
    return {row.id: row for row in conn.execute(query)}
