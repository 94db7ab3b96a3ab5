"""Which callbacks hold the daemon's event loop: ``cti bench pop --holds`` (not the product).

The bench puts this directory first on the daemon's ``PYTHONPATH`` with ``BENCH_HOLDS_DIR``
set: Python imports ``sitecustomize`` at start-up, and this one times every callback the loop
runs (``asyncio.events.Handle._run``: I/O callbacks, ``call_soon``s and each step of every
task) and, at exit, writes those over 0.5 ms by kind (a task's name and coroutine, or the
callback's qualified name) to ``<pid>.json`` in that directory: how many, their total, how many
over 1, 2 and 5 ms, the longest, and the loop thread's CPU time in them (the rest of their
time it waited: for the interpreter lock, or for a CPU). The daemon's children (its report
worker, multiprocessing's resource tracker) inherit the environment and write files of their
own. Two clock reads per callback, and two of the thread's CPU clock: about a microsecond.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import time
from asyncio import events
from typing import Any

_DIR = os.environ.get("BENCH_HOLDS_DIR")


def _install(directory: str) -> None:
    stats: dict[str, list[float]] = {}
    run = events.Handle._run
    clock, cpu_clock = time.perf_counter, time.thread_time

    def kind(handle: events.Handle) -> str:
        callback: Any = handle._callback  # type: ignore[attr-defined]
        owner = getattr(callback, "__self__", None)
        if owner is not None and hasattr(owner, "get_coro"):  # a task's step
            task = re.sub(r"[ :].*", "", owner.get_name())
            return f"task {task}: {getattr(owner.get_coro(), '__qualname__', '?')}"
        name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
        return str(name) if name else type(callback).__name__

    def timed(handle: events.Handle) -> None:
        began, cpu = clock(), cpu_clock()
        run(handle)
        took = clock() - began
        if took > 0.0005:
            row = stats.setdefault(kind(handle), [0, 0.0, 0, 0, 0, 0.0, 0.0])
            row[0] += 1
            row[1] += took
            row[2] += took > 0.001
            row[3] += took > 0.002
            row[4] += took > 0.005
            row[5] = max(row[5], took)
            row[6] += cpu_clock() - cpu

    def dump() -> None:
        keys = ("count", "total_s", "over_1ms", "over_2ms", "over_5ms", "max_s", "cpu_s")
        rows = {k: dict(zip(keys, v, strict=True)) for k, v in stats.items()}
        with open(os.path.join(directory, f"{os.getpid()}.json"), "w") as out:
            json.dump(rows, out)

    events.Handle._run = timed  # type: ignore[method-assign,assignment]
    atexit.register(dump)


if _DIR:
    _install(_DIR)
