"""Server-side sessions: every request's and socket's session is checked against a registry.

The signed cookie (:class:`agent_ui.session.SessionCodec`) only proves this daemon issued a
session. Whether it may still be used is the :class:`SessionRegistry`'s to say: the store's
(:class:`cti.accounts.sessions.SessionBook`) ends sessions on logout, after an idle time, and
when the account changed under them (deleted, deactivated, new role, new password), across
restarts. :class:`MemorySessions` is the registry of an app built without a store (tests,
embedding): logout and idle only, forgotten on restart.

:class:`SessionGuard` is ASGI middleware that resolves the cookie's session once per request
(:func:`request_session` reads it), and a sweeper that, while sockets are open, asks the
registry every ``check_every_s`` which of their sessions ended and closes those sockets (1008,
with why), so a password reset or a deleted account also ends the websockets it left open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_ui.hub import Connection
from agent_ui.protocol import CloseCode
from agent_ui.session import Session, SessionCodec
from cti.errors import CtiError

__all__ = ["MemorySessions", "SessionGuard", "SessionRegistry", "request_session"]

log = logging.getLogger(__name__)

_SCOPE_KEY = "cti.session"


class SessionRegistry(Protocol):
    """Where sessions are recorded and ended; every method may raise StoreUnavailable."""

    async def begin(
        self, session_id: str, username: str, role: str, expires_at: float, idle_s: float
    ) -> bool:
        """Record a new session; False if the account is no longer ``username`` as ``role``."""
        ...

    async def check(self, session_id: str) -> str | None:
        """Why the session ended, or None while it holds (and is then used now)."""
        ...

    async def end(self, session_id: str, reason: str) -> None: ...

    async def ended(self, session_ids: Collection[str]) -> dict[str, str]:
        """The ended ones of ``session_ids`` with why; the others are used now."""
        ...


@dataclass(slots=True)
class _Entry:
    expires_at: float
    idle_s: float
    last_seen: float
    ended: str | None = None


class MemorySessions:
    """A registry in this process's memory: logout and the idle timeout, nothing about accounts."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._clock = wall_clock
        self._entries: dict[str, _Entry] = {}

    async def begin(
        self, session_id: str, username: str, role: str, expires_at: float, idle_s: float
    ) -> bool:
        self.add(session_id, expires_at, idle_s)
        return True

    def add(self, session_id: str, expires_at: float, idle_s: float) -> None:
        """Record a session (synchronously, for tests that mint cookies)."""
        now = self._clock()
        self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}
        self._entries[session_id] = _Entry(expires_at, idle_s, now)

    async def check(self, session_id: str) -> str | None:
        return (await self.ended([session_id])).get(session_id)

    async def end(self, session_id: str, reason: str) -> None:
        entry = self._entries.get(session_id)
        if entry is not None and entry.ended is None:
            entry.ended = reason

    async def ended(self, session_ids: Collection[str]) -> dict[str, str]:
        now, gone = self._clock(), {}
        for sid in session_ids:
            entry = self._entries.get(sid)
            if entry is None:
                gone[sid] = "unknown session"
            elif entry.ended is not None:
                gone[sid] = entry.ended
            elif entry.expires_at <= now:
                gone[sid] = "expired"
            elif entry.last_seen + entry.idle_s <= now:
                gone[sid] = "idle too long"
            else:
                entry.last_seen = now
        return gone


def request_session(connection: HTTPConnection) -> Session | None:
    """The session :class:`SessionGuard` found valid for this request or socket, if any."""
    session = connection.scope.get(_SCOPE_KEY)
    return session if isinstance(session, Session) else None


class SessionGuard:
    """Check each request's session with the registry; close sockets whose session ended."""

    def __init__(
        self,
        registry: SessionRegistry,
        codec: SessionCodec,
        cookie: str,
        *,
        check_every_s: float = 2.0,
    ) -> None:
        self.registry, self._codec, self._cookie = registry, codec, cookie
        self._every = check_every_s
        self._sockets: dict[str, set[Connection]] = {}  # session id -> its open connections
        self._sweeper: asyncio.Task[None] | None = None

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app``: requests reach it with their checked session in the scope."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket") and not scope["path"].startswith("/static/"):
                try:
                    scope[_SCOPE_KEY] = await self.resolve(HTTPConnection(scope).cookies)
                except CtiError as exc:  # the store is down: say so, do not pass as anonymous
                    if scope["type"] == "http":
                        await JSONResponse(exc.as_dict(), status_code=exc.status)(
                            scope, receive, send
                        )
                        return
                    scope[_SCOPE_KEY] = None
            await app(scope, receive, send)

        return guarded

    async def resolve(self, cookies: dict[str, str]) -> Session | None:
        """The cookie's session if it is signed, unexpired and still held by the registry."""
        session = self._codec.read(cookies.get(self._cookie))
        return await self.confirm(session) if session is not None else None

    async def confirm(self, session: Session) -> Session | None:
        """``session`` if the registry still holds it (a ticket's session, say), else None."""
        if self._codec.check(session) is None:
            return None
        return session if await self.registry.check(session.session_id) is None else None

    def watch(self, conn: Connection) -> None:
        """Close ``conn`` once its session ends; the sweeper runs while any socket is watched."""
        if conn.session_id is None:
            return
        self._sockets.setdefault(conn.session_id, set()).add(conn)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep(), name="session sweeper"
            )

    def unwatch(self, conn: Connection) -> None:
        if conn.session_id is not None:
            conns = self._sockets.get(conn.session_id)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self._sockets[conn.session_id]
        if not self._sockets and self._sweeper is not None:
            self._sweeper.cancel()  # nothing to watch: no task outlives the last socket
            self._sweeper = None

    def close_session(self, session_id: str, reason: str) -> int:
        """Close the sockets of ``session_id`` now (1008, ``reason``); return how many."""
        conns = self._sockets.pop(session_id, set())
        for conn in conns:
            conn.close(CloseCode.POLICY_VIOLATION, f"session ended: {reason}")
        return len(conns)

    async def _sweep(self) -> None:
        """Every ``check_every_s`` while sockets are open: close those whose session ended."""
        while True:
            await asyncio.sleep(self._every)
            try:
                ended = await self.registry.ended(list(self._sockets))
            except CtiError as exc:  # the store is away: keep the sockets, ask again
                log.warning("could not check open sessions: %s", exc.message)
                continue
            for session_id, reason in ended.items():
                count = self.close_session(session_id, reason)
                if count:
                    log.info("closed %d socket(s) of a session that ended (%s)", count, reason)
