"""Websocket tickets kept in Redis: minted on one node, redeemed once on any node.

``SET <prefix>:ticket:<sha256> <session> PX <ttl>`` keeps a ticket; ``GETDEL`` hands it out and
removes it in one step, so two nodes racing with the same ticket cannot both open a socket.
Redis expires what nobody redeemed. Implements ``agent_ui.tickets.TicketStore``.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from broker_adapters.redis.client import BrokerKeys, translated

__all__ = ["RedisTickets"]


class RedisTickets:
    """The ticket store of a cluster whose broker is Redis (GETDEL: Redis 6.2 or later)."""

    def __init__(self, client: aioredis.Redis, keys: BrokerKeys) -> None:
        self._redis, self._keys = client, keys

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        with translated("keeping a websocket ticket"):
            await self._redis.set(self._keys.ticket(key), value, px=max(1, int(ttl_s * 1000)))

    async def take(self, key: str) -> str | None:
        with translated("redeeming a websocket ticket"):
            value = await self._redis.getdel(self._keys.ticket(key))
        return None if value is None else str(value)

    async def close(self) -> None:
        await self._redis.aclose()
