"""Leases and node heartbeats in Redis: who owns each AMI session, and which nodes are alive.

A lease is ``SET <prefix>:lease:<server> <node> NX PX <ttl>``; renewing and releasing are
compare-and-set scripts, so a node never extends or drops a lease another node holds. This is
the single-instance lease Redis documents; its safety rests on the holder stopping work once it
has not renewed for a ttl (``cti.cluster.ownership`` does).
"""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from broker_adapters.redis.client import BrokerKeys, translated

__all__ = ["RedisLeases"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeases:
    """The :class:`cti.cluster.ownership.Leases` of a Redis broker."""

    def __init__(self, client: aioredis.Redis, keys: BrokerKeys) -> None:
        self._redis = client
        self._keys = keys
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self, name: str, node: str, ttl_s: float) -> bool:
        with translated("taking a lease"):
            done = await self._redis.set(self._keys.lease(name), node, nx=True, px=_ms(ttl_s))
        return bool(done)

    async def renew(self, name: str, node: str, ttl_s: float) -> bool:
        with translated("renewing a lease"):
            done = await self._renew(keys=[self._keys.lease(name)], args=[node, _ms(ttl_s)])
        return bool(done)

    async def release(self, name: str, node: str) -> None:
        with translated("releasing a lease"):
            await self._release(keys=[self._keys.lease(name)], args=[node])

    async def holder(self, name: str) -> str | None:
        with translated("reading a lease"):
            value = await self._redis.get(self._keys.lease(name))
        return None if value is None else str(value)

    async def heartbeat(self, node: str, status: dict[str, object]) -> None:
        body = json.dumps({**status, "at": time.time()})
        with translated("writing a heartbeat"):
            await self._redis.hset(self._keys.nodes, node, body)  # type: ignore[misc]

    async def nodes(self) -> dict[str, dict[str, object]]:
        """Every node's last heartbeat (``at``: wall-clock seconds)."""
        with translated("reading heartbeats"):
            raw = await self._redis.hgetall(self._keys.nodes)  # type: ignore[misc]
        return {str(node): json.loads(body) for node, body in raw.items()}


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
