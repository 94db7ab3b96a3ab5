"""Run a synchronous store's methods from coroutines, on the store's own bounded thread pool.

One generic method instead of a coroutine twin per store method: ``await store.aio.run(
store.groups)`` runs :meth:`~cti.store.Store.groups` on a store thread, and mypy checks the
arguments and the result against the method itself (``ParamSpec``). A call that does not finish
within ``timeout`` seconds raises StoreUnavailable (the thread finishes on its own; a write may
still commit).

This module knows nothing of :class:`~cti.store.Store` (it wraps any object): the store builds
its :attr:`~cti.store.Store.aio`, and narrow ports such as
:class:`~cti.store.outbox.OutboxStore` type the wrapped object as a Protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import Generic, ParamSpec, TypeVar

from cti.errors import StoreUnavailable

__all__ = ["AsyncStore"]

T = TypeVar("T")
P = ParamSpec("P")
S_co = TypeVar("S_co", covariant=True)


class AsyncStore(Generic[S_co]):
    """``store`` for coroutines: :meth:`run` runs any of its methods on ``executor``."""

    def __init__(self, store: S_co, executor: Executor, *, timeout: float | None = 30.0) -> None:
        self._store = store
        self._executor = executor
        self._timeout = timeout

    @property
    def store(self) -> S_co:
        """The synchronous store whose methods :meth:`run` takes."""
        return self._store

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``call(*args, **kwargs)`` (a store method, or a function of the store's
        connections) on the store's threads; raise StoreUnavailable after ``timeout``."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, partial(call, *args, **kwargs))
        if self._timeout is None:
            return await future
        try:
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError as exc:
            name = getattr(call, "__name__", "call")
            raise StoreUnavailable(
                f"the store did not answer within {self._timeout:g} s",
                details={"operation": name, "timeout_seconds": self._timeout},
            ) from exc
