"""Websocket tickets: short-lived, single-use, for clients that cannot send the session cookie.

``POST /api/ws-ticket`` mints one for the caller's session; ``/ws?ticket=...`` redeems it once.
Where minted tickets wait is a :class:`TicketStore`: this process's memory by default
(:class:`MemoryTickets`), the broker in a cluster (``broker_adapters.redis.tickets``), so that a
ticket minted on one node opens a socket on any node behind the load balancer, and still only
once. The store keys tickets by their SHA-256, never by the ticket itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from agent_ui.session import Session
from cti.errors import BrokerUnavailable, RateLimited
from cti.principal import Principal, Role

__all__ = ["MemoryTickets", "TicketBook", "TicketStore"]

log = logging.getLogger(__name__)


class TicketStore(Protocol):
    """Keep a value under a key for ``ttl_s``; hand it out once."""

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        """Keep ``value``; raise ``BrokerUnavailable`` when the store cannot be reached."""
        ...

    async def take(self, key: str) -> str | None:
        """The value, removed in the same step (None: unknown, taken or expired)."""
        ...


class MemoryTickets:
    """The store of one process (the default): a dict with expiry times, bounded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = 10_000) -> None:
        self._now, self._limit = clock, limit
        self._values: dict[str, tuple[str, float]] = {}  # key -> (value, expiry)

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        now = self._now()
        for old in [k for k, (_, expiry) in self._values.items() if expiry <= now]:
            del self._values[old]
        if len(self._values) >= self._limit:
            raise RateLimited("too many unused websocket tickets", details={"retry_after_s": ttl_s})
        self._values[key] = (value, now + ttl_s)

    async def take(self, key: str) -> str | None:
        entry = self._values.pop(key, None)
        if entry is None or entry[1] <= self._now():
            return None
        return entry[0]


class TicketBook:
    """Mint tickets for sessions and redeem each once, wherever the store keeps them."""

    def __init__(
        self,
        *,
        ttl_s: float,
        store: TicketStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        per_user: int = 20,
    ) -> None:
        self._ttl, self._now, self._per_user = ttl_s, clock, per_user
        self._store: TicketStore = store or MemoryTickets(clock)
        self._minted: dict[str, deque[float]] = {}  # username -> when this node minted

    @property
    def ttl_s(self) -> float:
        return self._ttl

    async def mint(self, session: Session) -> str:
        """Return a new ticket for ``session``.

        Raises RateLimited past ``per_user`` tickets of one user within a ttl (on this node),
        BrokerUnavailable (503) when a cluster's broker cannot keep it.
        """
        now, user = self._now(), session.principal.username
        recent = self._minted.setdefault(user, deque())
        while recent and recent[0] <= now - self._ttl:
            recent.popleft()
        if len(recent) >= self._per_user:
            raise RateLimited(
                "too many unused websocket tickets", details={"retry_after_s": self._ttl}
            )
        ticket = secrets.token_urlsafe(32)
        await self._store.put(_key(ticket), _encoded(session), self._ttl)
        recent.append(now)
        return ticket

    async def redeem(self, ticket: str | None) -> Session | None:
        """Return the ticket's session once; None if unknown, used, expired or unreachable."""
        if not ticket or len(ticket) > 128:
            return None
        try:
            value = await self._store.take(_key(ticket))
        except BrokerUnavailable as exc:
            log.warning("websocket ticket not redeemable now: %s", exc)
            return None
        return None if value is None else _decoded(value)


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _encoded(session: Session) -> str:
    p = session.principal
    return json.dumps(
        {
            "sid": session.session_id,
            "u": p.username,
            "n": p.display_name,
            "r": str(p.role),
            "csrf": session.csrf_token,
            "exp": session.expires_at,
        }
    )


def _decoded(value: str) -> Session | None:
    try:
        body = json.loads(value)
        principal = Principal(str(body["u"]), str(body["n"]), Role(body["r"]))
        return Session(str(body["sid"]), principal, str(body["csrf"]), float(body["exp"]))
    except (KeyError, TypeError, ValueError):
        log.warning("a stored websocket ticket could not be read back")
        return None
