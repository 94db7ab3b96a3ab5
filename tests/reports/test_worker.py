"""The report worker: a real process (spawned) on a real SQLite store, against the in-process
service on the same store. Its answers are the same bytes, its errors the same errors with
their details, it runs nice'd, and a worker that dies or hangs is replaced."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.principal import Principal, Role
from cti.reports.buckets import Counting, Deltas, day_start
from cti.reports.rows import add_deltas
from cti.reports.service import OutOfScope, Reports
from cti.reports.worker import ReportUnavailable, ReportWorker
from cti.store import GroupSpec, Store

TZ = ZoneInfo("Europe/London")
ROOT = Principal("root", "root", Role.ADMIN)
SUE = Principal("sue", "sue", Role.SUPERVISOR)
QUERY = {"dim": "queue", "by": "day", "from": "2026-11-01", "to": "2026-11-03"}


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store(url)
    store.upgrade()
    store.create_agent("sue", role="supervisor")
    store.create_group(GroupSpec(name="Sales", queues=("sales",), supervisors=("sue",)))
    store.create_group(GroupSpec(name="Support", queues=("support",)))
    deltas = Deltas(Counting(TZ))
    start = day_start(datetime(2026, 11, 2, 12, tzinfo=TZ).timestamp(), TZ)
    for queue, offered in (("sales", 12), ("support", 7)):
        deltas.sums[("d", start, "queue", queue, "offered")] = offered
        deltas.sums[("d", start, "queue", queue, "answered")] = offered - 2
    with store.writing("test") as conn:
        add_deltas(conn, deltas)
    try:
        yield store, url
    finally:
        store.close()


@pytest.fixture
def worker(seeded: tuple[Store, str]) -> Iterator[ReportWorker]:
    store, url = seeded
    reports = ReportWorker(Reports(store.aio, TZ), url)
    try:
        yield reports
    finally:
        reports.close()


async def test_the_worker_answers_what_the_service_answers_in_a_nice_process_of_its_own(
    seeded: tuple[Store, str], worker: ReportWorker
) -> None:
    store, _ = seeded
    inline = ReportWorker(Reports(store.aio, TZ), None)
    body = await worker.json(ROOT, QUERY)
    assert body == await inline.json(ROOT, QUERY)
    totals = {t["key"]: (t["offered"], t["answered"]) for t in json.loads(body)["totals"]}
    assert totals == {"sales": (12, 10), "support": (7, 5)}
    assert await worker.csv(SUE, QUERY) == await inline.csv(SUE, QUERY)
    pid = worker.pid
    assert pid is not None and pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, pid) - os.nice(0) == 10  # below the daemon's


async def test_a_refusal_crosses_the_process_with_its_id_and_details(worker: ReportWorker) -> None:
    with pytest.raises(OutOfScope) as refused:
        await worker.json(SUE, {**QUERY, "keys": "support"})
    assert refused.value.error_id == "report.scope"
    assert refused.value.details == {"key": "support"}


async def test_a_killed_worker_is_replaced_for_the_next_request(worker: ReportWorker) -> None:
    first = await worker.json(ROOT, QUERY)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert await worker.json(ROOT, QUERY) == first
    assert worker.pid not in (None, pid)


async def test_a_worker_over_its_time_limit_is_replaced_and_the_asker_told(
    seeded: tuple[Store, str],
) -> None:
    store, url = seeded
    slow = ReportWorker(Reports(store.aio, TZ), url, timeout_s=0.001)  # not even started by then
    try:
        with pytest.raises(ReportUnavailable) as late:
            await slow.json(ROOT, QUERY)
        assert late.value.status == 503
        assert slow.pid is None  # stopped, not left running beside the next one
    finally:
        slow.close()


async def test_requests_at_once_take_turns_in_the_one_worker(worker: ReportWorker) -> None:
    """Four supervisors at once: each gets its own answer, one worker answers them in turn."""
    asked = [{**QUERY, "keys": key} for key in ("sales", "support", "sales", "support")]
    bodies = await asyncio.gather(*(worker.json(ROOT, query) for query in asked))
    keys = [[t["key"] for t in json.loads(body)["totals"]] for body in bodies]
    assert keys == [["sales"], ["support"], ["sales"], ["support"]]
    assert worker.pid is not None
