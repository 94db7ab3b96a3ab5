"""Render pop cards where a slow template cannot hold up other calls' pops.

A render is CPU work under the GIL: on the event loop it holds up every other call, and on a
thread it would too. Most cards take well under a millisecond, so they still render on the
loop (no process round trip on the common path), but only for a slice of ``inline_ms``: the
sandbox's step budget stops a render that runs past it (:func:`cti.pop.budget.step`). Such a
render is run again, from the start, in a worker process with the full limits, and its
template's renders go straight to the workers meanwhile (the other agents of a ring-all). If
it took longer than the slice there too (not a first render paying for loading number
metadata, nor a pause of the daemon), they keep going there for ``slow_for_s``: a slow
template costs its own group's pops a round trip, and the loop one slice.

The workers enforce the same step and time budget (in CPU time: a worker the host starves is
no measure of the template) and never queue a render: with every worker busy, a slow
template's pop gets the default card at once. A worker that still has not answered
``grace_s`` after the time limit (stuck in a C call the budget cannot interrupt) is killed
with the rest of its pool, and a new pool takes over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from cti.errors import TemplateError
from cti.pop.budget import RenderLimitExceeded, RenderLimits
from cti.pop.render import DEFAULT_TEMPLATE, PopRenderer, SliceUsed
from cti.pop.versions import SAMPLE_KINDS, sample_context
from cti.workers import kill_pool, spawn_pool, worker_started

__all__ = ["CardRenderer"]

# ("ok", html, ms) or ("failed", message, details, why it is quarantined or "")
_Outcome = tuple[str, str, object, str]

_worker: PopRenderer | None = None


def _start_worker(limits: RenderLimits) -> None:
    """Run in each worker process as it starts: one renderer (and compile cache) per worker."""
    global _worker  # noqa: PLW0603 (one renderer per worker process)
    worker_started(nice=10)
    _worker = PopRenderer(limits, quarantine_s=0)
    warm_up(_worker)


def warm_up(renderer: PopRenderer) -> None:
    """Load what a first render would (number metadata, jinja's runtime: ~15 ms), so that
    the first pop's render fits in its slice."""
    for kind in SAMPLE_KINDS:
        renderer.render(DEFAULT_TEMPLATE, sample_context(kind))


def _warm() -> None:
    """Run in a new worker so that its start-up is not counted against a render's deadline."""


def _render_in_worker(source: str, context: dict[str, object]) -> _Outcome:
    assert _worker is not None
    try:
        _worker.compile(source)  # not counted: the service compiled it before the trip
    except TemplateError as exc:
        return "failed", exc.message, dict(exc.details or {}), ""
    started = time.perf_counter()
    try:
        html = _worker.render(source, context)
    except TemplateError as exc:
        cause = exc.__cause__
        overran = isinstance(cause, RenderLimitExceeded) and cause.limit in ("time", "steps")
        return "failed", exc.message, dict(exc.details or {}), exc.message if overran else ""
    return "ok", html, (time.perf_counter() - started) * 1000, ""


def _failure(kind: str, message: str) -> TemplateError:
    return TemplateError(message, details={"kind": kind, "line": None, "message": message})


class CardRenderer:
    """Render on the loop within a slice; renders that overrun it, in worker processes."""

    def __init__(
        self,
        renderer: PopRenderer | None = None,
        *,
        inline_ms: float = 5.0,
        workers: int = 2,
        slow_for_s: float = 300.0,
        grace_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.renderer = renderer or PopRenderer()
        self.inline_ms = inline_ms
        self._workers = workers
        self._slow_for_s = slow_for_s
        self._grace_s = grace_s
        self._clock = clock
        self._slow: dict[str, float] = {}  # template source -> until when it renders in a worker
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[None] | None = None
        self._warmed = False
        self._busy = 0  # renders in the workers now
        self.worker_renders = 0
        self.pools_replaced = 0

    def start(self) -> None:
        """Warm this process's renderer and start the workers, so that the first render to
        overrun its slice does not wait for a process to start (any thread; at start-up)."""
        if not self._warmed:
            warm_up(self.renderer)
            self._warmed = True
        self._started()

    async def ready(self) -> ProcessPoolExecutor:
        """Wait until a worker has started (the first time: ~1 s); raise TemplateError if not."""
        pool = self._started()
        assert self._warm is not None
        try:
            async with asyncio.timeout(30.0):
                await asyncio.shield(asyncio.wrap_future(self._warm))
        except (TimeoutError, BrokenProcessPool) as exc:
            self._replace(pool)
            raise _failure("runtime", "no render worker could be started") from exc
        return pool

    def render_inline(self, source: str, context: dict[str, object]) -> str | None:
        """The card, rendered now within the slice; None if it must go to a worker
        (:meth:`render_in_worker`). Raise :class:`TemplateError` if the template failed."""
        until = self._slow.get(source)
        if not self._warmed:  # not started at start-up (a test): warm up here, once
            warm_up(self.renderer)
            self._warmed = True
        if until is not None:
            if until > self._clock():
                self.renderer.check_quarantine(source)
                return None
            del self._slow[source]
        try:
            return self.renderer.render(source, context, slice_ms=self.inline_ms)
        except SliceUsed:  # slow until the worker says otherwise (the other pops of a ring-all)
            self._slow[source] = self._clock() + self._slow_for_s
            return None

    def is_slow(self, source: str) -> bool:
        """Whether ``source`` overran its slice lately (its renders go to the workers)."""
        return self._slow.get(source, 0.0) > self._clock()

    async def render_in_worker(self, source: str, context: dict[str, object]) -> str:
        """The card, rendered in a worker with the full limits; raise :class:`TemplateError`.

        No pop waits for a worker to start (a second or more): until one is ready (just after
        start-up, or after a stuck one was replaced) this raises at once and the pop gets
        the default card.
        """
        self.renderer.compile(source)  # a compile error needs no trip (and is cached here)
        self.renderer.check_quarantine(source)
        if self._warm is None or not self._warm.done():
            self._started()
            why = f"the template ran past {self.inline_ms:g} ms and no render worker is ready yet"
            raise _failure("limit", why)
        if self._busy >= self._workers:  # never queued: the deadline is the render's own
            raise _failure("limit", "the template is slow and the render workers are all busy")
        pool = await self.ready()
        deadline_s = self.renderer.limits.time_ms / 1000 + self._grace_s
        self._busy += 1
        try:
            async with asyncio.timeout(deadline_s):
                outcome = await asyncio.wrap_future(pool.submit(_render_in_worker, source, context))
        except TimeoutError:
            self._replace(pool)
            why = f"the template ran over {deadline_s * 1000:.0f} ms; its worker was stopped"
            self.renderer.quarantine(source, why)
            raise _failure("limit", why) from None
        except BrokenProcessPool as exc:
            self._replace(pool)
            raise _failure("runtime", "the template's render worker stopped") from exc
        finally:
            self._busy -= 1
        self.worker_renders += 1
        return self._result(source, outcome)

    def _result(self, source: str, outcome: _Outcome) -> str:
        status, text, extra, overran = outcome
        if status == "ok":
            if isinstance(extra, float) and extra > self.inline_ms:
                self._slow[source] = self._clock() + self._slow_for_s  # slow: keep it here
            else:  # fast there: the slice was overrun by a first render or a pause
                self._slow.pop(source, None)
            return text
        if overran:  # out of time or steps there too: it is slow, and quarantined if that is on
            self._slow[source] = self._clock() + self._slow_for_s
            self.renderer.quarantine(source, overran)
        details = dict(extra) if isinstance(extra, dict) else {}
        raise TemplateError(text, details=details)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = spawn_pool(
                self._workers,
                _start_worker,
                # CPU time there too: a worker the host starves is no measure of the template
                (replace(self.renderer.limits, cpu_clock=True),),
            )
            self._warm = self._pool.submit(_warm)  # starts one worker now
        return self._pool

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        """Kill ``pool``'s workers (one is stuck or dead); the next render starts a new pool."""
        if self._pool is not pool:
            return
        self._pool, self._warm = None, None
        self.pools_replaced += 1
        kill_pool(pool)

    async def close(self) -> None:
        """Stop the workers (renders under way finish first: they are bounded)."""
        pool, self._pool, self._warm = self._pool, None, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
