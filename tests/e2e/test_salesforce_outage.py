"""Outage drill: Salesforce down for a compressed "15 minutes" while calls come in, and the daemon
killed (SIGKILL) and restarted inside that window. Every call must still become exactly one Task,
and nothing may be left in the outbox.

Time runs 60 times faster than in production: the outage lasts 15 s, the outbox backs off from
0.25 s up to a 5 s cap (production: 2 s to 300 s). The connector writes without an External ID
field, so it is the query-then-insert path that must not log a call twice.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import AgentClient, DaemonProcess, agent
from tests.e2e.salesforce_org import JANE, Org, log_messages, salesforce_daemon, seed_org
from tests.salesforce.fake_salesforce import FakeSalesforce

pytestmark = [pytest.mark.e2e, pytest.mark.drill, pytest.mark.timeout(240)]

Phones = Callable[..., dict[str, Phone]]
CALLS = 5
KILL_AFTER = 3  # calls placed before the SIGKILL
OUTAGE_S = 15.0  # "15 minutes"
# A row claimed by the killed daemon waits for its lease (delivery_timeout_s + 30 s) to lapse.
DELIVERY_TIMEOUT_S = 5.0
RECOVERY_S = OUTAGE_S + DELIVERY_TIMEOUT_S + 30 + 15


def outbox_rows(daemon: DaemonProcess) -> list[dict[str, Any]]:
    listed = daemon.cli("outbox", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


async def wait_queued(daemon: DaemonProcess, count: int, within: float = 15.0) -> None:
    """Wait until the store holds ``count`` call records (so a SIGKILL cannot lose them)."""
    deadline = time.monotonic() + within
    while len(await asyncio.to_thread(outbox_rows, daemon)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} records queued"
        await asyncio.sleep(0.2)


async def place_call(
    lab: LabHandle, alice: AgentClient, sipp_calls: list[SippProcess]
) -> dict[str, Any]:
    """One answered 1 s call from Jane to agent alice; return the pop it gave her."""
    seen = len(alice.of_type("pop"))
    call = inbound_call(lab.sip, direct_did("1001"), JANE, "Jane Doe", hold_s=1.0)
    sipp_calls.append(call)
    await alice.wait_for(lambda m: len(alice.of_type("pop")) > seen)
    pop = alice.of_type("pop")[seen]["data"]
    await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
    await asyncio.to_thread(lab.wait_idle, 10)
    return dict(pop)


async def test_an_outage_with_a_crash_inside_delivers_every_task_once(
    lab: LabHandle, phones: Phones, tmp_path: Path, sipp_calls: list[SippProcess]
) -> None:
    with FakeSalesforce() as fake:
        org = seed_org(fake)
        daemon = salesforce_daemon(
            lab,
            tmp_path,
            org,
            salesforce={
                "max_attempts": 2,
                "backoff_base_s": 0.05,
                "backoff_cap_s": 0.2,
                "connect_timeout_s": 1.0,
                "read_timeout_s": 3.0,
                "operation_timeout_s": 4.0,
            },
            outbox={
                "backoff_base_s": 0.25,
                "backoff_cap_s": 5.0,
                "poll_interval_s": 0.5,
                "delivery_timeout_s": DELIVERY_TIMEOUT_S,
            },
        )
        assert daemon.cli("seed").returncode == 0
        await asyncio.to_thread(daemon.start)
        try:
            await run_drill(lab, phones, daemon, org, sipp_calls)
        finally:
            await asyncio.to_thread(daemon.stop)


async def run_drill(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, org: Org, sipp_calls: list[SippProcess]
) -> None:
    fake = org.fake
    phones("1001")["1001"].set_answer_policy(AutoAnswer(0.3))
    pops: list[dict[str, Any]] = []
    requests_before = len(fake.requests)
    fake.outage(OUTAGE_S)
    outage_start, outage_end = time.time(), time.time() + OUTAGE_S

    async with agent(daemon, "alice") as alice:
        for _ in range(KILL_AFTER):
            pops.append(await place_call(lab, alice, sipp_calls))
    await wait_queued(daemon, KILL_AFTER)
    killed_at = time.time()
    assert fake.in_outage, "the drill was too slow: the kill fell after the outage"
    assert await asyncio.to_thread(daemon.stop, signal.SIGKILL) == -signal.SIGKILL
    await asyncio.to_thread(daemon.start)
    restarted_at = time.time()
    async with agent(daemon, "alice") as alice:
        for _ in range(CALLS - KILL_AFTER):
            pops.append(await place_call(lab, alice, sipp_calls))
    call_ids = [pop["call_id"] for pop in pops]
    assert len(set(call_ids)) == CALLS

    deadline = time.monotonic() + RECOVERY_S
    while set(call_ids) - set(org.calls_logged()):
        assert time.monotonic() < deadline, (
            f"undelivered: {set(call_ids) - set(org.calls_logged())}"
        )
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # a late duplicate would land by now

    logged = org.calls_logged()
    assert {call_id: logged[call_id] for call_id in call_ids} == dict.fromkeys(call_ids, 1)
    assert sum(logged.values()) == CALLS + 1  # and the one Task the org was seeded with
    for call_id in call_ids:
        [task] = org.tasks_of(call_id)
        assert task["WhoId"] == org.jane and task["CallType"] == "Inbound"
    listed = daemon.cli("outbox", "list")
    assert listed.stdout == "outbox: nothing waiting\n", listed.stdout
    assert daemon.cli("outbox", "list", "--stuck").stdout == "outbox: nothing waiting\n"

    rows = {row["call_id"]: row for row in outbox_rows(daemon)}
    assert set(rows) == set(call_ids)
    assert all(rows[c]["connector"] == "salesforce" and rows[c]["crm_id"] for c in call_ids)
    assert max(rows[c]["attempts"] for c in call_ids) > 1, "the outage never hit a delivery"
    # Errors are only the outbox calling rows stuck; never a login "refused" by the outage.
    errors = log_messages(daemon, "error")
    assert all("now stuck" in e and "crm.unavailable" in e for e in errors), errors
    report(
        fake,
        pops,
        rows,
        requests_before,
        outage=(outage_start, outage_end),
        killed_at=killed_at,
        restarted_at=restarted_at,
    )


def report(
    fake: FakeSalesforce,
    pops: list[dict[str, Any]],
    rows: dict[str, dict[str, Any]],
    requests_before: int,
    *,
    outage: tuple[float, float],
    killed_at: float,
    restarted_at: float,
) -> None:
    start, end = outage
    requests = fake.requests[requests_before:]
    print(
        f"\noutage drill: {len(pops)} calls; outage {end - start:.0f} s ('15 min'); "
        f"SIGKILL at +{killed_at - start:.1f} s, healthy again at +{restarted_at - start:.1f} s"
    )
    print(
        f"  Salesforce requests: {len(requests)} in all, {fake.refused} refused "
        "(503 / REQUEST_LIMIT_EXCEEDED / login 503)"
    )
    print("  call                       pop lookup  attempts  queued -> delivered  delay")
    for pop in pops:
        row = rows[pop["call_id"]]
        created = datetime.fromisoformat(row["created_at"])
        delivered = datetime.fromisoformat(row["delivered_at"])
        delay = (delivered - created).total_seconds()
        print(
            f"  {pop['call_id']:<26} {pop['card']['lookup']:<11} {row['attempts']:>8}  "
            f"+{created.timestamp() - start:5.1f} s -> +{delivered.timestamp() - start:5.1f} s  "
            f"{delay:5.1f} s"
        )
