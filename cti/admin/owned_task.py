"""One background task a service owns: started on the running loop, cancelled and awaited when
the service closes (nothing is fire-and-forget)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["OwnedTask"]


class OwnedTask:
    def __init__(self, name: str) -> None:
        self._name = name
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(work, name=self._name)

    async def stop(self) -> None:
        """Cancel the task (if it runs) and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
