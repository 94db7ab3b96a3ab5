"""Drill 3 for the built-in CRM: its database unreachable for a window, the daemon SIGKILLed
inside it, every record delivered once after recovery.

The CRM lives in its own PostgreSQL database, reached through a relay that black-holes it
(connections hang, as behind a dead link; nothing is refused cleanly). Calls on the real lab:
one before the outage, one that ends inside it, one up when the daemon is killed (it goes on
across the restart), one after the restart with the CRM still down. Then the link heals.
The Salesforce side of drill 3 is tests/e2e/test_salesforce_outage.py.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cti.store import Store
from sip_tests.drill.relay import TcpRelay
from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.drills.test_daemon_restart import delivered, outbox_records, wait_until
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.e2e, pytest.mark.drill, pytest.mark.postgres]

CALLER = "+442079460001"

Phones = Callable[..., dict[str, Phone]]


def crm_rows(direct_url: str) -> dict[str, int]:
    """How many rows the CRM holds per call id (straight to PostgreSQL, not through the relay)."""
    url = make_url(direct_url)
    dsn = f"host={url.host} port={url.port} user={url.username} dbname={url.database}"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT call_id, count(*) FROM crm_calls WHERE call_id NOT LIKE 'demo:%%'"
            " GROUP BY call_id"
        ).fetchall()
    return {call_id: count for call_id, count in rows}  # the seeded demo history left out


def live_call_ids(store_url: str) -> set[str]:
    store = Store(store_url)
    try:
        return {call_id for call_id, _, _, _ in store.live_calls()}
    finally:
        store.close()


def new_calls(store_url: str, known: set[str]) -> set[str]:
    return (set(outbox_records(store_url)) | live_call_ids(store_url)) - known


async def test_crm_down_with_a_sigkill_inside_the_window_loses_and_repeats_nothing(
    lab: LabHandle,
    phones: Phones,
    tmp_path: Path,
    sipp_calls: list[SippProcess],
    postgres_url: str,
) -> None:
    relay = TcpRelay(make_url(postgres_url).port or 5432)
    port = await relay.start()
    through_relay = make_url(postgres_url).set(port=port).render_as_string(hide_password=False)
    daemon = DaemonProcess(lab, tmp_path, extra_env={"CTI_CRM__BUILTIN_URL": through_relay})
    seeded = await asyncio.to_thread(daemon.cli, "seed")
    assert seeded.returncode == 0, seeded.stderr
    got = phones("1001", "1002")
    for phone in got.values():
        phone.set_answer_policy(AutoAnswer(0.3))

    def call(extension: str, hold_s: float) -> SippProcess:
        placed = inbound_call(lab.sip, direct_did(extension), CALLER, "Alice Archer", hold_s=hold_s)
        sipp_calls.append(placed)
        return placed

    async def call_id_of(before: set[str]) -> str:
        found: set[str] = set()

        def appeared() -> bool:
            found.update(new_calls(daemon.store_url, before))
            return bool(found)

        await wait_until(appeared, 15, "the call in the store")
        [call_id] = found
        return call_id

    try:
        await asyncio.to_thread(daemon.start)
        first = call("1001", 0.5)
        await asyncio.to_thread(first.wait_outcome, "local_hangup", 20)
        await wait_until(lambda: len(outbox_records(daemon.store_url)) == 1, 15, "A queued")
        [a] = outbox_records(daemon.store_url)
        await wait_until(lambda: delivered(daemon.store_url, a), 15, "A delivered")
        await asyncio.to_thread(lab.wait_idle, 10)

        relay.blackhole()
        outage = time.monotonic()
        known = {a}
        ends_inside = call("1001", 0.5)
        await asyncio.to_thread(ends_inside.wait_outcome, "local_hangup", 20)
        b = await call_id_of(known)
        known.add(b)
        await wait_until(lambda: b in outbox_records(daemon.store_url), 15, "B queued")
        assert not delivered(daemon.store_url, b)

        goes_on = call("1002", 14)
        await asyncio.to_thread(got["1002"].wait_ringing, 10)
        c = await call_id_of(known)
        known.add(c)
        await asyncio.sleep(1.5)  # answered, and saved by the live-call journal since
        assert c in live_call_ids(daemon.store_url)
        assert await asyncio.to_thread(daemon.stop, signal.SIGKILL) == -signal.SIGKILL

        await asyncio.to_thread(daemon.start, 60)  # CRM still unreachable
        after_restart = call("1001", 0.5)
        await asyncio.to_thread(after_restart.wait_outcome, "local_hangup", 20)
        d = await call_id_of(known)
        known.add(d)
        await asyncio.to_thread(goes_on.wait_outcome, "local_hangup", 30)
        await wait_until(lambda: c in outbox_records(daemon.store_url), 15, "C queued")
        assert crm_rows(postgres_url) == {a: 1}  # nothing crossed while it was down

        relay.heal()
        healed = time.monotonic()
        await wait_until(
            lambda: all(delivered(daemon.store_url, x) for x in (b, c, d)),
            60,
            "every record delivered after the CRM came back",
        )
        print(
            f"outage {healed - outage:.1f} s with a SIGKILL inside; all delivered "
            f"{time.monotonic() - healed:.1f} s after recovery (answered calls wait out the "
            "group's wrap-up first)"
        )
        await asyncio.sleep(2)  # a duplicate, if any, would land by now
        assert crm_rows(postgres_url) == {a: 1, b: 1, c: 1, d: 1}
        records = outbox_records(daemon.store_url)
        assert {k: len(v) for k, v in records.items()} == {a: 1, b: 1, c: 1, d: 1}
        c_record = records[c][0]["record"]
        assert c_record.answered_by == "bob" and "restored" in c_record.flags
        assert c_record.duration_seconds > 12
        assert live_call_ids(daemon.store_url) == set()
    finally:
        await asyncio.to_thread(daemon.stop)
        await relay.close()
