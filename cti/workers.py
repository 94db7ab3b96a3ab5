"""The daemon's worker processes: spawned, below the daemon's CPU priority, killed when stuck.

Used where CPU work must not hold the interpreter lock that delivers pops: slow pop templates
(:mod:`cti.pop.offload`) and reports (:mod:`cti.reports.worker`). Spawned, not forked: the
daemon has threads (store, CRM) and an event loop that a fork would copy mid-flight.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["kill_pool", "pool_pids", "spawn_pool", "worker_started"]


def spawn_pool(
    workers: int, initializer: Callable[..., object], initargs: tuple[Any, ...]
) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each running ``initializer(*initargs)`` first
    (which calls :func:`worker_started`)."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )


def worker_started(nice: int) -> None:
    """In a worker as it starts: Ctrl-C is the daemon's to handle (it stops its workers), and
    ``nice`` puts the worker below the daemon, whose loop delivers every pop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(nice)


def pool_pids(pool: ProcessPoolExecutor | None) -> list[int]:
    """The pool's worker processes now (none before its first task)."""
    return list(getattr(pool, "_processes", None) or {})


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: a worker stuck in a C call does not take ``shutdown``'s hint."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
