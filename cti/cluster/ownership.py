"""Which node owns each Asterisk server's AMI session: a lease per server, renewed or lost.

Every node runs an :class:`Ownership` for every configured server. Each ``ttl/3`` it renews the
leases it holds and tries to take those nobody holds; taking one calls ``on_gained`` (the root
restores the server's live calls from the store and opens the AMI session, whose first
``CoreShowChannels`` resync settles them), losing one calls ``on_lost`` (the session closes).
A node that could not renew for most of a ttl (the broker unreachable, the process stalled)
counts the lease as lost before another node can have taken it, so two nodes never both track
a server's calls for long. When the owner is killed, its lease expires after ``ttl`` and the
next round of another node takes it: with the default 3 s, within about 4 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from cti.errors import BrokerUnavailable

__all__ = ["Leases", "Ownership", "ServerHook"]

log = logging.getLogger(__name__)


class Leases(Protocol):
    """The broker's leases and node heartbeats (``broker_adapters.redis.lease``)."""

    async def acquire(self, name: str, node: str, ttl_s: float) -> bool: ...
    async def renew(self, name: str, node: str, ttl_s: float) -> bool: ...
    async def release(self, name: str, node: str) -> None: ...
    async def holder(self, name: str) -> str | None: ...
    async def heartbeat(self, node: str, status: dict[str, object]) -> None: ...
    async def nodes(self) -> dict[str, dict[str, object]]: ...


ServerHook = Callable[[str], Awaitable[None]]


class Ownership:
    """Hold the AMI leases this node can get; tell the root when one is gained or lost."""

    def __init__(
        self,
        leases: Leases,
        node: str,
        servers: Sequence[str],
        *,
        ttl_s: float,
        on_gained: ServerHook,
        on_lost: ServerHook,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases, self.node, self._servers = leases, node, list(servers)
        self._ttl, self._on_gained, self._on_lost, self._clock = ttl_s, on_gained, on_lost, clock
        self._renewed: dict[str, float] = {}  # server -> when this node last renewed it
        self.owners: dict[str, str | None] = dict.fromkeys(self._servers)  # as last read
        self.takeovers = 0
        self._task: asyncio.Task[None] | None = None

    def hooks(self, on_gained: ServerHook, on_lost: ServerHook) -> None:
        """Set what to do when a lease is gained or lost (before :meth:`start`)."""
        self._on_gained, self._on_lost = on_gained, on_lost

    def owns(self, server: str) -> bool:
        return server in self._renewed

    @property
    def servers(self) -> tuple[str, ...]:
        """The servers whose leases this node takes part in (config and admin-added)."""
        return tuple(self._servers)

    def add(self, server: str) -> None:
        """Take part in ``server``'s lease from the next round on (an admin added it)."""
        if server not in self._servers:
            self._servers.append(server)
            self.owners.setdefault(server, None)

    async def remove(self, server: str) -> None:
        """Stop taking part in ``server``'s lease (an admin removed or changed it): hand it back
        if held, without ``on_lost`` (the caller closes the session itself)."""
        if server in self._servers:
            self._servers.remove(server)
        self.owners.pop(server, None)
        if self._renewed.pop(server, None) is not None:
            try:
                await self._leases.release(server, self.node)
            except BrokerUnavailable as exc:
                log.warning("lease of %s not released (%s); it expires by itself", server, exc)

    def owner_of(self, server: str) -> str | None:
        return self.node if self.owns(server) else self.owners.get(server)

    async def start(self) -> None:
        await self.round()
        self._task = asyncio.create_task(self._run(), name="ami-ownership")

    async def close(self) -> None:
        """Stop; close the owned sessions (``on_lost``) and hand the leases back at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for server in list(self._renewed):
            await self._lose(server, "shutting down")
            try:
                await self._leases.release(server, self.node)
            except BrokerUnavailable as exc:
                log.warning("lease of %s not released (%s); it expires by itself", server, exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            await self.round()

    async def round(self) -> None:
        """Renew, take or give up each server's lease once; then read who owns the rest."""
        for server in list(self._servers):  # an admin may add or remove one meanwhile
            if server not in self._servers:
                continue
            if self.owns(server):
                await self._keep(server)
            else:
                await self._try_take(server)
            try:
                self.owners[server] = await self._leases.holder(server)
                await self._leases.heartbeat(self.node, {"owns": sorted(self._renewed)})
            except BrokerUnavailable:
                pass  # the owners read last stay; requests to them time out if stale

    async def _keep(self, server: str) -> None:
        try:
            renewed = await self._leases.renew(server, self.node, self._ttl)
        except BrokerUnavailable as exc:
            if self._clock() - self._renewed[server] > self._ttl * 0.8:
                await self._lose(server, f"lease not renewed in time ({exc})")
            return
        if renewed:
            self._renewed[server] = self._clock()
        else:
            await self._lose(server, "another node holds the lease")

    async def _try_take(self, server: str) -> None:
        try:
            taken = await self._leases.acquire(server, self.node, self._ttl)
        except BrokerUnavailable:
            return
        if not taken:
            return
        if server not in self._servers:  # removed while the broker answered
            await self._leases.release(server, self.node)
            return
        self._renewed[server] = self._clock()
        self.takeovers += 1
        log.warning("node %s now owns the AMI session of %s", self.node, server)
        try:
            await self._on_gained(server)
        except Exception:
            log.exception("could not take over %s; handing its lease back", server)
            await self._lose(server, "take-over failed")
            await self._leases.release(server, self.node)

    async def _lose(self, server: str, why: str) -> None:
        if self._renewed.pop(server, None) is None:
            return
        log.warning("node %s no longer owns %s: %s", self.node, server, why)
        await self._on_lost(server)
