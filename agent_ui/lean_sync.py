"""A queue and a flag for each websocket connection, at a fraction of asyncio's size.

uvicorn gives every websocket an ``asyncio.Queue`` of received messages and an
``asyncio.Event`` for write flow control. Each ``asyncio.Queue`` holds three deques and an Event,
and each Event a deque of its own: an empty deque is about 600 bytes, so 3 KiB per connection
before a message arrives, times thousands of idle agent sockets. These hold a list and create a
future only while someone waits. Only what uvicorn's sans-IO protocol calls is provided:
``put_nowait``/``get``/``empty`` (one reader: the ASGI app's ``receive``) and
``set``/``clear``/``is_set``/``wait``.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["Flag", "Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """A FIFO with one consumer: ``get`` waits on a future made only while it is empty."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> T:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("Inbox has one consumer; get() is already waiting")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)  # short: the protocol pauses reading while one is queued


class Flag:
    """``asyncio.Event`` without the deque: waiters are kept only while there are some."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, *, is_set: bool = False) -> None:
        self._set = is_set
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True
