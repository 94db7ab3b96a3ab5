"""Request/reply between nodes over Redis pub/sub: a command reaches the node owning a server.

A request is published on ``<prefix>:requests:<owner>`` with an id and the asker's node; the
owner runs it and publishes the reply on ``<prefix>:replies:<asker>``. Each node subscribes to
both of its own channels once. A request nobody answers in time raises ``OwnerUnreachable``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from broker_adapters.redis.client import BrokerKeys, is_connection_error, translated
from cti.errors import OwnerUnreachable

__all__ = ["Handler", "RedisRequests"]

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class RedisRequests:
    """Ask another node (:meth:`ask`); answer what others ask this one (``handler``)."""

    def __init__(self, client: aioredis.Redis, keys: BrokerKeys, node: str) -> None:
        self._redis, self._keys, self._node = client, keys, node
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._handler: Handler | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._listen(ready), name="cluster-requests")
        await ready

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def ask(self, node: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send ``body`` to ``node`` and return its reply; raise OwnerUnreachable on silence."""
        ident = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        message = json.dumps({"id": ident, "from": self._node, "body": body})
        try:
            with translated("asking another node"):
                heard = await self._redis.publish(self._keys.requests(node), message)
            if not heard:
                raise OwnerUnreachable(f"node {node} is not listening", details={"node": node})
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise OwnerUnreachable(
                f"node {node} did not answer within {timeout_s:g} s", details={"node": node}
            ) from None
        finally:
            self._waiting.pop(ident, None)

    async def _listen(self, ready: asyncio.Future[None]) -> None:
        mine = self._keys.requests(self._node)
        replies = self._keys.replies(self._node)
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(mine, replies)
                if not ready.done():
                    ready.set_result(None)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    data = json.loads(message["data"])
                    if message["channel"] == replies:
                        future = self._waiting.get(data["id"])
                        if future is not None and not future.done():
                            future.set_result(data["body"])
                    else:
                        task = asyncio.create_task(self._answer(data))
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                log.warning("cluster requests: broker lost (%s); re-subscribing", exc)
                await asyncio.sleep(0.5)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _answer(self, request: dict[str, Any]) -> None:
        assert self._handler is not None
        reply = await self._handler(request["body"])
        message = json.dumps({"id": request["id"], "body": reply})
        try:
            await self._redis.publish(self._keys.replies(request["from"]), message)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning("cluster requests: reply to %s lost (%s)", request["from"], exc)
