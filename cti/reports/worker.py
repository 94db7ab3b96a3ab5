"""Reports answered in a process of their own, run at a lower CPU priority than the daemon.

A month of 200 agents by day is 62,000 bucket rows summed in Python and 2 MB of JSON. On the
daemon's store threads that work holds the interpreter lock while pops wait: with two
supervisors reading reports back to back, the pop p50 at 100 calls/s went from 1.7 to 13.4 ms
and the p99 from 15 to 106 ms (``cti bench pop --quick --with-reports``, docs/performance.md).
The worker opens the store itself (same URL; reports only read it), answers each request with
the encoded body, JSON bytes or CSV text, so the daemon passes bytes on without touching the
figures, and it is ``nice``: when the cores are short the kernel runs the daemon first.

Validation, scope and errors are the in-process service's (:class:`~cti.reports.service.Reports`,
:meth:`~cti.reports.service.Reports.report_now`): a refused request raises the same
:class:`~cti.errors.CtiError`, details included, across the process boundary. A worker that
died (killed, out of memory) is started again for the next request; one that does not answer
within ``timeout_s`` is replaced and the request fails with ``report.unavailable`` (503). An
in-memory store (tests) cannot be opened twice: :class:`ReportWorker` then answers on the store's
threads as before (``store_url=None``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cti.errors import CtiError
from cti.principal import Principal
from cti.reports.service import Reports, report_csv
from cti.workers import kill_pool, pool_pids, spawn_pool, worker_started

__all__ = ["ReportUnavailable", "ReportWorker"]

Form = Literal["json", "csv"]
_ANSWER_LIMIT_S = 60.0


class ReportUnavailable(CtiError):
    """The report worker did not answer (it died twice, or took longer than its limit)."""

    error_id = "report.unavailable"
    status = 503


class ReportWorker:
    """Answer report requests as encoded bodies, in a worker process (or in-process)."""

    def __init__(
        self,
        reports: Reports,
        store_url: str | None,
        *,
        nice: int = 10,
        timeout_s: float = _ANSWER_LIMIT_S,
    ) -> None:
        self._reports = reports
        self._url = store_url
        self._nice = nice
        self._timeout = timeout_s
        self._pool: ProcessPoolExecutor | None = None
        # One request in the worker at a time, the others wait here: the time limit is then the
        # running request's own, and a queue of them never kills the one being answered.
        self._turn = asyncio.Semaphore(1)

    @property
    def pid(self) -> int | None:
        """The worker process's id while one runs (None in-process or before the first use)."""
        return next(iter(pool_pids(self._pool)), None)

    async def json(self, principal: Principal, params: Mapping[str, str]) -> bytes:
        """The report as the JSON body ``GET /api/reports`` answers."""
        body = await self._answer(principal, params, "json")
        assert isinstance(body, bytes)
        return body

    async def csv(self, principal: Principal, params: Mapping[str, str]) -> tuple[str, str]:
        """The report as (file name, CSV text), as the page's export downloads it."""
        name, text = await self._answer(principal, params, "csv")
        return str(name), str(text)

    async def _answer(self, principal: Principal, params: Mapping[str, str], form: Form) -> Any:
        if self._url is None:
            body = await self._reports.report(principal, params)
            return _encoded(body, form)
        async with self._turn:
            return await self._in_worker(principal, dict(params), form)

    async def _in_worker(self, principal: Principal, params: dict[str, str], form: Form) -> Any:
        for attempt in (1, 2):
            pool = self._started()
            future = asyncio.wrap_future(pool.submit(_answer_in_worker, principal, params, form))
            try:
                return await asyncio.wait_for(future, self._timeout)
            except BrokenProcessPool:
                self._stop(pool)  # died under a request: start another, ask once more
                if attempt == 2:
                    raise ReportUnavailable("the report worker stopped twice") from None
            except TimeoutError:
                self._stop(pool)
                raise ReportUnavailable(
                    f"the report took longer than {self._timeout:g} s; try a shorter range"
                ) from None
        raise AssertionError("unreachable")

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            assert self._url is not None, "in-process answers need no worker"
            self._pool = spawn_pool(
                1, _start_worker, (str(self._url), self._reports.site_tz.key, self._nice)
            )
        return self._pool

    def _stop(self, pool: ProcessPoolExecutor) -> None:
        kill_pool(pool)  # a worker stuck in a query does not take shutdown's hint
        if self._pool is pool:
            self._pool = None

    def close(self) -> None:
        """Stop the worker (a running report is abandoned: its asker is gone too)."""
        if self._pool is not None:
            self._stop(self._pool)


def _encoded(body: dict[str, Any], form: Form) -> bytes | tuple[str, str]:
    if form == "csv":
        name = f"report-{body['dim']}-{body['by']}-{body['from']}-{body['to']}.csv"
        return name, report_csv(body)
    # as Starlette's JSONResponse renders it
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# ------------------------------------------------------------------------ in the worker process
_worker: Reports | None = None


def _start_worker(url: str, tz: str, nice: int) -> None:
    global _worker  # noqa: PLW0603 - the process's one service, made once by the pool
    from cti.store import Store  # noqa: PLC0415 - imported in the worker only

    worker_started(nice)
    store = Store(url, pool_size=1)
    _worker = Reports(store.aio, ZoneInfo(tz))


def _answer_in_worker(
    principal: Principal, params: dict[str, str], form: Form
) -> bytes | tuple[str, str]:
    assert _worker is not None, "the pool's initializer made it"
    return _encoded(_worker.report_now(principal, params), form)
