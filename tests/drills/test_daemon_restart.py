"""Drill 7: the daemon stopped by SIGTERM while calls are up, and started again.

On the real lab: two answered calls, the agent's notes on one; SIGTERM. The daemon must close
the agents' sockets with 1001, flush the outbox and exit 0. One call ends while the daemon is
down, the other goes on. After the restart the first has exactly one record (with the notes,
flagged ``restored`` and ``vanished``), the second pops again for its agent and, when it ends,
has exactly one record with its whole duration. Nothing is recorded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from cti.store import Store
from cti.store.codec import record_from_json
from cti.store.models import outbox
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import AgentClient, DaemonProcess

pytestmark = [pytest.mark.e2e, pytest.mark.drill]

ALICE_NUMBER = "+442079460001"
SHARED_NUMBER = "+442079460010"
NOTES = "Promised a refund <before> Friday"

Phones = Callable[..., dict[str, Phone]]


def outbox_records(store_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every queued record per call id, straight from the outbox (one row per connector)."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    finally:
        engine.dispose()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.call_id, []).append(
            {
                "connector": row.connector,
                "delivered": row.delivered_at is not None,
                "record": record_from_json(row.payload),
            }
        )
    return out


def delivered(store_url: str, call_id: str) -> bool:
    rows = outbox_records(store_url).get(call_id, [])
    return bool(rows and all(row["delivered"] for row in rows))


async def wait_until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)


def answered(call_id: str) -> Callable[[dict[str, Any]], bool]:
    def check(message: dict[str, Any]) -> bool:
        data = message["data"]
        return bool(
            message["type"] == "call_state"
            and data["call_id"] == call_id
            and data["state"] == "answered"
        )

    return check


@contextlib.asynccontextmanager
async def running(daemon: DaemonProcess) -> AsyncIterator[DaemonProcess]:
    await asyncio.to_thread(daemon.start)
    try:
        yield daemon
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            await asyncio.to_thread(daemon.stop)


async def test_sigterm_with_live_calls_flushes_closes_and_reconciles_after_restart(
    lab: LabHandle, phones: Phones, tmp_path: Path, sipp_calls: list[SippProcess]
) -> None:
    daemon = DaemonProcess(lab, tmp_path)
    assert daemon.cli("seed").returncode == 0
    got = phones("1001", "1002")
    for phone in got.values():
        phone.set_answer_policy(AutoAnswer(0.3))

    async with running(daemon):
        alice = AgentClient(daemon, "alice", "alice-demo")
        bob = AgentClient(daemon, "bob", "bob-demo")
        for client in (alice, bob):
            await client.login()
            await client.connect()
            await client.wait_for(lambda m: m["type"] == "hello")
        # A call that ends before the stop: its record must be flushed by the drain.
        done = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=0.5)
        sipp_calls.append(done)
        done_id = (await alice.wait_for(lambda m: m["type"] == "pop"))["data"]["call_id"]
        await asyncio.to_thread(done.wait_outcome, "local_hangup", 20)
        await asyncio.to_thread(lab.wait_idle, 10)

        short = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice Archer", hold_s=6)
        long = inbound_call(lab.sip, direct_did("1002"), SHARED_NUMBER, "Bob Baker", hold_s=16)
        sipp_calls += [short, long]
        short_id = (
            await alice.wait_for(lambda m: m["type"] == "pop" and m["data"]["call_id"] != done_id)
        )["data"]["call_id"]
        long_id = (await bob.wait_for(lambda m: m["type"] == "pop"))["data"]["call_id"]
        for client, call_id in ((alice, short_id), (bob, long_id)):
            await client.wait_for(answered(call_id))
        await alice.send("notes", {"call_id": short_id, "text": NOTES})
        await alice.send("disposition", {"call_id": short_id, "value": "Follow-up"})
        await alice.wait_for(lambda m: m["type"] == "disposition_saved")

        started = time.monotonic()
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.log_tail()
        print(f"SIGTERM to exit: {time.monotonic() - started:.2f} s")
        await asyncio.wait_for(alice.close(), 5)
        await asyncio.wait_for(bob.close(), 5)
        assert alice.ws is not None and alice.ws.close_code == 1001
        assert bob.ws is not None and bob.ws.close_code == 1001

    # Down: the drain flushed the finished call's record; the live ones wait in live_calls.
    records = outbox_records(daemon.store_url)
    assert [r["delivered"] for r in records[done_id]] == [True]
    assert short_id not in records and long_id not in records
    store = Store(daemon.store_url)
    try:
        saved = {call_id for call_id, _, _, _ in store.live_calls()}
    finally:
        store.close()
    assert saved == {short_id, long_id}

    await asyncio.to_thread(short.wait_outcome, "local_hangup", 20)  # ends while we are down

    async with running(daemon):
        bob = AgentClient(daemon, "bob", "bob-demo", cookies=bob.cookies)
        await bob.connect()  # a fresh tab: the snapshot has the live call's pop
        snapshot = await bob.wait_for(lambda m: m["type"] == "snapshot")
        [restored] = [p for p in snapshot["data"]["pops"] if p["call_id"] == long_id]
        assert "Bob Baker" in restored["html"]
        await wait_until(
            lambda: short_id in outbox_records(daemon.store_url), 15, "the short call's record"
        )
        await asyncio.to_thread(long.wait_outcome, "local_hangup", 30)
        await wait_until(
            lambda: delivered(daemon.store_url, long_id),
            20,
            "the long call's record, delivered",
        )
        await wait_until(
            lambda: delivered(daemon.store_url, short_id),
            20,
            "the short call's record, delivered",
        )
        await bob.close()

    records = outbox_records(daemon.store_url)
    assert {call_id: len(rows) for call_id, rows in records.items()} == {
        done_id: 1,
        short_id: 1,
        long_id: 1,
    }
    short_record = records[short_id][0]["record"]
    assert short_record.notes == NOTES and short_record.disposition == "Follow-up"
    assert short_record.answered_by == "alice"
    assert {"restored", "vanished"} <= set(short_record.flags)
    long_record = records[long_id][0]["record"]
    assert long_record.answered_by == "bob" and "restored" in long_record.flags
    assert "vanished" not in long_record.flags
    # Its start came through the restart: the whole call, not the part after it.
    assert long_record.duration_seconds > 14, long_record
    store = Store(daemon.store_url)
    try:
        assert store.live_calls() == []
    finally:
        store.close()
