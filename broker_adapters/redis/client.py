"""The Redis connection and the names of every key and channel a cluster uses.

Every name starts with the configured prefix, so clusters (and test runs) can share one Redis.
redis-py's exceptions stop here: :func:`translated` turns them into ``BrokerUnavailable``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cti.errors import BrokerUnavailable

__all__ = ["BrokerKeys", "connect", "is_connection_error", "translated"]


@dataclass(frozen=True, slots=True)
class BrokerKeys:
    """The names of a cluster's keys and channels, all under ``prefix``."""

    prefix: str

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    def frames(self, node: str) -> str:  # channel: numbered frames of the agents a node holds
        return f"{self.prefix}:frames:{node}"

    def presence(self, agent: str) -> str:  # sorted set: the nodes holding an agent, to when
        return f"{self.prefix}:presence:{agent}"

    @property
    def live(self) -> str:  # channel: unnumbered frames (supervisors' live views)
        return f"{self.prefix}:live"

    @property
    def control(self) -> str:  # channel: close an agent's sockets everywhere
        return f"{self.prefix}:control"

    def seq(self, agent: str) -> str:
        return f"{self.prefix}:seq:{agent}"

    def replay(self, agent: str) -> str:
        return f"{self.prefix}:replay:{agent}"

    def lease(self, server: str) -> str:
        return f"{self.prefix}:lease:{server}"

    def ticket(self, digest: str) -> str:  # a websocket ticket, by its SHA-256
        return f"{self.prefix}:ticket:{digest}"

    @property
    def nodes(self) -> str:  # hash: node id -> its last heartbeat (JSON)
        return f"{self.prefix}:nodes"

    def requests(self, node: str) -> str:  # channel: commands for the node owning a server
        return f"{self.prefix}:requests:{node}"

    def replies(self, node: str) -> str:
        return f"{self.prefix}:replies:{node}"


def connect(url: str) -> aioredis.Redis:
    """A client for ``url``; connections open lazily and are re-made after a broker restart."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        health_check_interval=5,
    )
    return client


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise ``BrokerUnavailable`` naming ``what`` for any Redis or socket error inside."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise BrokerUnavailable(f"{what}: {exc}", details={"doing": what}) from exc
