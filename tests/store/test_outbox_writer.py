"""The outbox writer: exactly-once delivery through failures, timeouts, restarts and kills.

Time is a :class:`FakeClock` that jumps ahead whenever the writer waits, so minutes of backoff
take milliseconds; only the per-delivery timeout runs on real time (it bounds a real await).
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from cti.errors import CrmError, CrmUnavailable, ValidationFailed
from cti.services import StoreRecords
from cti.store import OutboxWriter, RetryPolicy, Store
from tests.store.fakes import START, BatchingCrm, FakeClock, MemoryCrm, eventually, record

CALL = "lab:1700000000.1"
POLICY = RetryPolicy(base_seconds=2, cap_seconds=60, factor=2, jitter=0.2, stuck_after=3)


@pytest.fixture
def crm(clock: FakeClock) -> MemoryCrm:
    return MemoryCrm(name="builtin", clock=clock.now)


def writer_for(
    store: Store, clock: FakeClock, probe_interval: float | None = 10.0, **connectors: MemoryCrm
) -> OutboxWriter:
    return OutboxWriter(
        store.aio,
        connectors,
        policy=POLICY,
        clock=clock,
        delivery_timeout=5.0,
        poll_interval=5.0,
        probe_interval=probe_interval,
    )


def delivered(store: Store) -> bool:
    return all(row.delivered_at is not None for row in store.outbox_entries(include_delivered=True))


async def test_delivers_each_record_once_to_each_connector(store: Store, clock: FakeClock) -> None:
    builtin, salesforce = MemoryCrm("builtin", clock=clock.now), MemoryCrm("sf", clock=clock.now)
    await store.aio.run(store.end_call, record(CALL), ["builtin", "salesforce"])
    await store.aio.run(store.end_call, record("lab:2"), ["builtin"])

    async with writer_for(store, clock, builtin=builtin, salesforce=salesforce) as writer:
        await eventually(lambda: delivered(store))
        await eventually(lambda: writer.stats.delivered_total == 3 and writer.stats.depth == 0)
        stats = writer.stats

    assert sorted(builtin.calls) == [CALL, "lab:2"]
    assert list(salesforce.calls) == [CALL]
    assert len(builtin.attempts) == 2
    assert len(salesforce.attempts) == 1
    rows = {(r.call_id, r.connector): r for r in store.outbox_entries(include_delivered=True)}
    assert rows[CALL, "builtin"].crm_id == builtin.calls[CALL][0]
    assert rows[CALL, "salesforce"].crm_id == "sf-1"
    assert all(r.attempts == 1 and r.last_error is None for r in rows.values())
    assert (stats.depth, stats.stuck, stats.delivered_total, stats.failures_total) == (0, 0, 3, 0)
    assert not writer.running


class CountingWriter(OutboxWriter):
    """The writer, counting how often it is woken (from whatever source)."""

    wakes = 0

    def poke(self) -> None:
        self.wakes += 1
        super().poke()


async def test_each_record_wakes_the_writer_once(
    store: Store, crm: MemoryCrm, tmp_path: Path
) -> None:
    writer = CountingWriter(store.aio, {"builtin": crm}, poll_interval=3600)  # the real clock
    records = StoreRecords(store, ["builtin"], writer.poke, tmp_path / "spill", grace_s=0)
    async with writer:
        await asyncio.sleep(0.2)  # the writer found nothing and waits out its hour-long poll
        await records.end_call(record(CALL))
        await eventually(lambda: delivered(store) and CALL in crm.calls, within=5)
        await records.end_call(record("lab:2"))
        await records.end_call(record(CALL))  # a repeated end queues nothing: no wake-up
        await eventually(lambda: delivered(store) and "lab:2" in crm.calls, within=5)
    assert writer.wakes == 2
    assert records.written == 3


async def test_calls_ending_within_a_tick_are_written_in_one_transaction(
    store: Store, crm: MemoryCrm, tmp_path: Path
) -> None:
    """Issue 20: under load the record writer's transactions follow the ticks, not the calls;
    each call still learns its own outcome (a repeated end queues nothing, wakes nothing)."""
    writer = CountingWriter(store.aio, {"builtin": crm}, poll_interval=3600)
    records = StoreRecords(store, ["builtin"], writer.poke, tmp_path / "spill", grace_s=0)
    assert store.end_call(record("lab:0"), ["builtin"])  # ended before: queued already
    calls = [record(f"lab:{n}") for n in range(6)]
    writes: list[str] = []

    def begin(conn: object) -> None:
        writes.append("begin")

    event.listen(Engine, "begin", begin)
    try:
        await asyncio.gather(*(records.end_call(call) for call in calls))
    finally:
        event.remove(Engine, "begin", begin)
    assert writes == ["begin"]  # one transaction for the six
    assert records.written == 6 and writer.wakes == 1
    assert sorted(e.call_id for e in store.outbox_entries()) == [f"lab:{n}" for n in range(6)]
    capped = StoreRecords(
        store, ["builtin"], writer.poke, tmp_path / "spill", grace_s=0, max_batch=4
    )
    event.listen(Engine, "begin", begin)
    try:
        await asyncio.gather(*(capped.end_call(record(f"lab:{n}")) for n in range(6, 16)))
    finally:
        event.remove(Engine, "begin", begin)
    assert len(writes) == 1 + 3  # ten calls in batches of at most four
    assert capped.written == 10


async def test_a_claimed_batch_is_marked_delivered_in_one_statement(
    store: Store, crm: MemoryCrm, tmp_path: Path
) -> None:
    """Issue 20: the rows a wake-up delivered are marked together, not one transaction each."""
    for n in range(6):
        assert store.end_call(record(f"lab:{n}"), ["builtin"])
    marks: list[str] = []

    def statement(conn: object, cursor: object, sql: str, *args: object) -> None:
        if sql.startswith("UPDATE outbox") and "delivered_at=" in sql.replace(" ", ""):
            marks.append(sql)

    event.listen(Engine, "before_cursor_execute", statement)
    try:
        async with OutboxWriter(store.aio, {"builtin": crm}, poll_interval=3600):
            await eventually(lambda: len(crm.calls) == 6 and delivered(store), within=5)
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
    assert len(marks) == 1
    assert all(e.delivered_at is not None for e in store.outbox_entries(include_delivered=True))


@pytest.mark.parametrize(("gather_s", "rounds"), [(0.5, 1), (0.0, 5)])
async def test_records_queued_together_are_delivered_in_one_round(
    store: Store, crm: MemoryCrm, gather_s: float, rounds: int
) -> None:
    """Issue 20: calls ending within ``gather_s`` of each other (each queued and poked as the
    daemon does) are claimed, delivered and marked in one round, not one round each."""
    marks: list[str] = []

    def statement(conn: object, cursor: object, sql: str, *args: object) -> None:
        if sql.startswith("UPDATE outbox") and "delivered_at=" in sql.replace(" ", ""):
            marks.append(sql)

    writer = OutboxWriter(store.aio, {"builtin": crm}, poll_interval=3600, gather_s=gather_s)
    event.listen(Engine, "before_cursor_execute", statement)
    try:
        async with writer:
            await asyncio.sleep(0.05)  # the writer's first look found nothing: it waits
            for n in range(5):
                await store.aio.run(store.end_call, record(f"lab:{n}"), ["builtin"])
                writer.poke()
                if not gather_s:  # each round has ended before the next call's record
                    await eventually(lambda n=n: len(crm.calls) == n + 1, within=5)
            await eventually(lambda: len(crm.calls) == 5 and delivered(store), within=5)
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
    assert len(marks) == rounds


async def test_a_batching_crm_gets_a_round_in_one_call(store: Store, clock: FakeClock) -> None:
    """Issue 20: a connector that stores many records at once (the built-in CRM) is handed all
    of a round's rows in one call; each row is marked with its own CRM id."""
    crm = BatchingCrm("builtin", clock=clock.now)
    calls = [f"lab:{n}" for n in range(10)]
    await store.aio.run(store.end_calls, [(record(c), 0) for c in calls], ["builtin"])
    async with writer_for(store, clock, builtin=crm) as writer:
        await eventually(lambda: delivered(store) and writer.stats.delivered_total == 10)
    assert crm.batches == [10]
    assert crm.attempts == []  # no record went alone
    rows = {r.call_id: r for r in store.outbox_entries(include_delivered=True)}
    assert {call_id: rows[call_id].crm_id for call_id in calls} == {
        call_id: crm.calls[call_id][0] for call_id in calls
    }
    assert all(r.attempts == 1 and r.last_error is None for r in rows.values())


async def test_one_refused_record_holds_back_no_other(store: Store, clock: FakeClock) -> None:
    """A batch the CRM refuses for one record is tried one record at a time: the others are
    delivered in the same round, the refused one backs off alone with the CRM's reason."""
    crm = BatchingCrm("builtin", clock=clock.now, refused={"lab:3"})
    calls = [f"lab:{n}" for n in range(6)]
    await store.aio.run(store.end_calls, [(record(c), 0) for c in calls], ["builtin"])
    async with writer_for(store, clock, builtin=crm) as writer:

        def five_marked_and_one_failed() -> bool:  # delivered_total counts rows once marked
            return writer.stats.delivered_total == 5 and writer.stats.failures_total > 0

        await eventually(five_marked_and_one_failed)
    assert sorted(crm.calls) == sorted(set(calls) - {"lab:3"})
    assert crm.batches[0] == 6
    rows = {r.call_id: r for r in store.outbox_entries(include_delivered=True)}
    assert rows["lab:3"].delivered_at is None
    assert rows["lab:3"].last_error == "request.invalid: refused"
    assert all(rows[c].delivered_at is not None and rows[c].attempts == 1 for c in crm.calls)


async def test_a_batch_to_an_unreachable_crm_fails_each_row_once(
    store: Store, clock: FakeClock
) -> None:
    """CRM down: the round's rows all back off after one attempt (not one more attempt each),
    then all arrive, each once."""
    crm = BatchingCrm("builtin", clock=clock.now)
    crm.script(CrmUnavailable("down"))
    calls = [f"lab:{n}" for n in range(8)]
    await store.aio.run(store.end_calls, [(record(c), 0) for c in calls], ["builtin"])
    async with writer_for(store, clock, builtin=crm) as writer:
        await eventually(lambda: delivered(store) and writer.stats.delivered_total == 8)
        assert writer.stats.failures_total == 8
    assert crm.batches[0] == 8
    # later rounds take the rows as their backoffs end (each jittered): none before
    assert all(at >= START + timedelta(seconds=1.6) for _, at in crm.attempts)
    assert sorted(crm.calls) == sorted(calls)
    rows = store.outbox_entries(include_delivered=True)
    assert all(r.attempts == 2 and r.last_error == "crm.unavailable: down" for r in rows)


def test_a_claim_reads_the_notes_of_all_its_calls_in_one_query(store: Store) -> None:
    """Issue 20: each claimed record still gets its call's notes as they are now (wrap-up)."""
    store.create_agent("alice")
    for n in range(6):
        assert store.end_call(record(f"lab:{n}"), ["builtin"], 0)
        store.save_notes(f"lab:{n}", "alice", f"after call {n}")  # typed in wrap-up
    reads: list[str] = []

    def statement(conn: object, cursor: object, sql: str, *args: object) -> None:
        if sql.startswith("SELECT") and "call_notes" in sql:
            reads.append(sql)

    event.listen(Engine, "before_cursor_execute", statement)
    try:
        claimed = store.claim_due(START + timedelta(days=1), 10, 60)
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
    assert len(reads) == 1
    assert {d.call_id: d.record.notes for d in claimed} == {
        f"lab:{n}": f"after call {n}" for n in range(6)
    }


async def test_fails_three_times_then_succeeds(store: Store, clock: FakeClock) -> None:
    crm = MemoryCrm("builtin", clock=clock.now)
    crm.script(CrmUnavailable("down"), CrmError("500 from the CRM"), CrmUnavailable("down again"))
    randoms = iter([0.0, 0.5, 0.99, 0.3])
    writer = OutboxWriter(
        store.aio, {"builtin": crm}, policy=POLICY, clock=clock, rand=lambda: next(randoms)
    )
    await store.aio.run(store.end_call, record(CALL), ["builtin"])

    async with writer:
        await eventually(lambda: delivered(store) and writer.stats.delivered_total == 1)

    [row] = store.outbox_entries(include_delivered=True)
    assert row.attempts == 4
    assert row.crm_id == "builtin-1"
    assert row.last_error == "crm.unavailable: down again"  # the last failure stays visible
    assert len(crm.calls) == 1
    assert len(crm.attempts) == 4
    times = [at for _, at in crm.attempts]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # Failure n waits within [d * 0.8, d], d = min(60, 2 * 2 ** (n - 1)); rand picks the point.
    assert gaps == pytest.approx([2.0, 4.0 * 0.9, 8.0 * (1 - 0.2 * 0.99)])
    for failures, gap in enumerate(gaps, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (failures - 1))
        assert ceiling * 0.8 <= gap <= ceiling
    assert writer.stats.failures_total == 3
    assert writer.stats.delivered_total == 1


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=300, jitter=0.2)
    assert [policy.delay(n, 0.0) for n in (1, 2, 3, 8, 9, 50, 10**6)] == [
        2,
        4,
        8,
        256,
        300,
        300,
        300,
    ]
    assert policy.delay(20, 0.999) == pytest.approx(300 * (1 - 0.2 * 0.999))
    with pytest.raises(ValidationFailed):
        RetryPolicy(base_seconds=10, cap_seconds=5)
    with pytest.raises(ValidationFailed):
        RetryPolicy(jitter=1.0)


async def test_a_connector_that_times_out(store: Store, clock: FakeClock, crm: MemoryCrm) -> None:
    crm.script("hang")
    writer = OutboxWriter(
        store.aio, {"builtin": crm}, policy=POLICY, clock=clock, delivery_timeout=0.2
    )
    await store.aio.run(store.end_call, record(CALL), ["builtin"])

    async with writer:
        await eventually(lambda: delivered(store))

    [row] = store.outbox_entries(include_delivered=True)
    assert row.attempts == 2
    assert row.last_error == "timed out after 0.2 s"
    assert len(crm.calls) == 1


async def test_stuck_rows_are_counted_and_still_retried_at_the_cap(
    store: Store, clock: FakeClock, crm: MemoryCrm
) -> None:
    crm.script(*(CrmUnavailable(f"down {n}") for n in range(8)))
    await store.aio.run(store.end_call, record(CALL), ["builtin"])
    writer = writer_for(store, clock, probe_interval=None, builtin=crm)  # the backoff alone

    async with writer:
        await eventually(lambda: len(crm.attempts) >= 5 and writer.stats.stuck == 1)
        assert [r.call_id for r in store.outbox_entries(stuck_after=3)] == [CALL]
        assert writer.stats.depth == 1
        await eventually(lambda: delivered(store) and writer.stats.depth == 0)

    [row] = store.outbox_entries(include_delivered=True)
    assert row.attempts == 9
    assert crm.calls[CALL][0] == row.crm_id
    times = [at for _, at in crm.attempts]
    late_gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times[5:])]
    assert all(48 <= gap <= 60 for gap in late_gaps)  # at the cap, with jitter
    assert writer.stats.stuck == 0


async def test_after_an_outage_a_probe_finds_the_crm_back_and_every_record_follows(
    store: Store, clock: FakeClock, crm: MemoryCrm
) -> None:
    """Twelve records backed off to the cap (60 s); the CRM comes back: they arrive within a
    probe interval (10 s) of its return, not a cap later, each once, without a burst meanwhile."""
    calls = [f"lab:{n}" for n in range(12)]
    for call_id in calls:
        await store.aio.run(store.end_call, record(call_id), ["builtin"])
    crm.script(*(CrmUnavailable("down") for _ in range(10_000)))  # down until cleared
    writer = writer_for(store, clock, builtin=crm)
    async with writer:
        await eventually(lambda: all(r.attempts >= 6 for r in store.outbox_entries()))
        crm.back()
        outage_attempts, back_at = len(crm.attempts), clock.now()
        await eventually(lambda: delivered(store))
    assert sorted(crm.calls) == sorted(calls)
    first_success = min(at for call_id, at in crm.attempts[outage_attempts:])
    assert (first_success - back_at).total_seconds() <= 10.0
    last = max(at for _, at in crm.attempts)
    assert (last - first_success).total_seconds() <= 1.0  # the rest went at once
    # At the cap, twelve rows each at most once a minute, plus a probe every 10 s: bounded load.
    rows = store.outbox_entries(include_delivered=True)
    assert all(r.attempts <= 9 for r in rows), [r.attempts for r in rows]


async def test_an_unconfigured_connector_is_a_failure_not_a_drop(
    store: Store, clock: FakeClock, crm: MemoryCrm
) -> None:
    await store.aio.run(store.end_call, record(CALL), ["builtin", "salesforce"])

    async with writer_for(store, clock, builtin=crm):
        await eventually(lambda: len(store.outbox_entries()) == 1)
        await eventually(lambda: store.outbox_entries()[0].attempts >= 2)

    [row] = store.outbox_entries()
    assert row.connector == "salesforce"
    assert row.delivered_at is None
    assert row.last_error == "no connector named 'salesforce' is configured"


async def test_killed_between_log_call_and_mark_delivered(
    store: Store, clock: FakeClock, crm: MemoryCrm
) -> None:
    crm.script("block_after")
    await store.aio.run(store.end_call, record(CALL), ["builtin"])
    first = writer_for(store, clock, builtin=crm)
    first.start()
    await asyncio.wait_for(crm.stored.wait(), 10)

    await first.stop()  # the CRM has the call; the outbox does not know

    [row] = store.outbox_entries()
    assert row.delivered_at is None
    assert row.attempts == 0
    async with writer_for(store, clock, builtin=crm):  # the daemon restarts
        await eventually(lambda: delivered(store))
    assert len(crm.attempts) == 2
    assert len(crm.calls) == 1
    [row] = store.outbox_entries(include_delivered=True)
    assert row.crm_id == crm.calls[CALL][0]


async def test_a_connector_cancelled_after_recording(
    store: Store, clock: FakeClock, crm: MemoryCrm
) -> None:
    crm.script("cancel_after")
    await store.aio.run(store.end_call, record(CALL), ["builtin"])

    async with writer_for(store, clock, builtin=crm):
        await asyncio.wait_for(crm.stored.wait(), 10)
    assert store.outbox_entries()[0].delivered_at is None
    async with writer_for(store, clock, builtin=crm):
        await eventually(lambda: delivered(store))

    assert len(crm.attempts) == 2
    assert len(crm.calls) == 1


async def test_flush_delivers_what_is_due_and_waits(store: Store, crm: MemoryCrm) -> None:
    clock = FakeClock()
    writer = OutboxWriter(store.aio, {"builtin": crm}, clock=clock)  # not started
    for n in range(7):
        await store.aio.run(store.end_call, record(f"lab:{n}"), ["builtin"])
    clock.advance(1)

    assert await writer.flush(timeout=10) is True

    assert len(crm.calls) == 7
    assert store.outbox_entries() == []
    assert writer.stats.delivered_total == 7
    assert writer.stats.depth == 0


async def test_flush_gives_up_at_its_timeout(store: Store, clock: FakeClock) -> None:
    crm = MemoryCrm("builtin", clock=clock.now)
    crm.script("hang")
    writer = OutboxWriter(store.aio, {"builtin": crm}, clock=clock, delivery_timeout=60)
    await store.aio.run(store.end_call, record(CALL), ["builtin"])

    assert await writer.flush(timeout=0.2) is False
    assert store.outbox_entries()[0].delivered_at is None


async def test_retry_makes_rows_due_now(store: Store, clock: FakeClock) -> None:
    for n in range(3):
        store.end_call(record(f"lab:{n}"), ["builtin"])
    [first, *_] = store.claim_due(START, 1, 3600)

    assert store.claim_due(START, 10, 3600) != []  # the other two
    assert store.claim_due(START, 10, 3600) == []  # all leased
    assert store.retry_outbox([first.id]) == 1
    assert [d.id for d in store.claim_due(START, 10, 3600)] == [first.id]
    assert store.retry_outbox() == 3
    assert await store.aio.run(store.retry_outbox, [9999]) == 0
    assert len(store.claim_due(START, 10, 60)) == 3
    store.mark_delivered(first.id, "crm-1", START + timedelta(seconds=1))
    assert store.retry_outbox() == 2  # delivered rows stay delivered


async def test_two_writers_share_the_outbox_without_double_delivery(
    store: Store, clock: FakeClock, crm: MemoryCrm
) -> None:
    for n in range(20):
        await store.aio.run(store.end_call, record(f"lab:{n}"), ["builtin"])
    first = OutboxWriter(store.aio, {"builtin": crm}, clock=clock, batch_size=3)
    second = OutboxWriter(store.aio, {"builtin": crm}, clock=clock, batch_size=3)

    async with first, second:
        await eventually(lambda: delivered(store))

    assert len(crm.calls) == 20
    assert len(crm.attempts) == 20  # each row claimed by exactly one writer
