"""A small cache of recent lookups: the same caller often rings again within seconds (a retry
after a missed call, a transfer that pops again), and each lookup costs API requests that count
against the org's daily limit. Entries live ``ttl_s`` seconds; the oldest go first when full.

Used from the event loop only (no locking); the clock is injected so tests control time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """At most ``size`` values, each forgotten ``ttl_s`` seconds after it was stored."""

    def __init__(
        self, ttl_s: float, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_s
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """Return the value stored under ``key`` if it is still fresh."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key`` (nothing when the TTL is zero)."""
        if self._ttl <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        """Forget every entry whose key matches ``predicate`` (after a write changed it)."""
        for key in [key for key in self._entries if predicate(key)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
