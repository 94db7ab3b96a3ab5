"""Drill 6: click-to-dial in flight when the AMI connection is cut: one call, never two.

An agent (alice, phone 1001: a SIPp phone that answers) clicks to dial through the desktop's
API (``POST /api/dial``). The daemon sends one AMI ``Originate``; the relay between it and
Asterisk cuts the connection at the worst moment:

* ``reply-lost``: Asterisk got the Originate and answered it; the answer never reaches the
  daemon. Asterisk rings the phone anyway: exactly one call must be placed.
* ``request-lost``: the Originate never reaches Asterisk: no call, and none later either.

Either way the daemon cannot know the outcome: the agent gets 503 ``ami.connection_lost``,
and the daemon must never send the Originate again on the next connection (stock panoramisk
re-sends actions that were in flight when its connection came back). What is counted: the
Originates the daemon wrote (at the relay, over every connection), the INVITEs that reached
the agent's phone and the trunk's far end (SIPp), the calls in Asterisk's CDR, and the records
in the CRM.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from cti.errors import LabError
from sip_tests.agent_phones import SippAgent, sipp_agents
from sip_tests.ami_relay import AmiCutter
from sip_tests.bench.results import Report
from sip_tests.cdr import calls_from
from sip_tests.drill.lab_run import DrillLab, ReconnectPolicy, crm_calls, drill_lab, wait_records
from sip_tests.sipp import SippProcess, cleanup_workdirs, trunk_far_end

__all__ = ["MODES", "OriginateCutResult", "OriginateRound", "run_originate_cut"]

MODES = ("reply-lost", "request-lost")
NUMBER = "+442079460777"  # an outside number: the call goes out through the lab trunk
AGENT, PASSWORD, PHONE = "alice", "alice-demo", "1001"


@dataclass(frozen=True, slots=True)
class OriginateRound:
    mode: str
    http_status: int
    error: str
    originates_sent: int  # Originate actions the daemon wrote this round, every connection
    phone_invites: int  # calls that rang the agent's phone
    trunk_invites: int  # calls that went out of the trunk
    cdr_calls: int  # click-to-dial calls in Asterisk's CDR
    call_ids: tuple[str, ...]  # those calls, as the CTI names them

    @property
    def expected_calls(self) -> int:
        return 1 if self.mode == "reply-lost" else 0


@dataclass(slots=True)
class OriginateCutResult:
    rounds: list[OriginateRound]
    crm_records: int  # records in the CRM, every round
    record_ids: list[str]
    reconnect_s: list[float]  # cut -> the daemon logged in and resynced again
    seconds: float

    def report(self, quick: bool) -> Report:
        report = Report("drill-originate-cut", quick)
        for mode in MODES:
            done = [r for r in self.rounds if r.mode == mode]
            if not done:
                continue
            expected = sum(r.expected_calls for r in done)
            sent = sum(r.originates_sent for r in done)
            report.add(f"{mode}: rounds", len(done), "rounds")
            report.add(f"{mode}: Originates sent", sent, "actions", target=f"{len(done)}",
                       ok=sent == len(done))  # fmt: skip
            for name, count in (
                ("calls in CDR", sum(r.cdr_calls for r in done)),
                ("calls at the phone", sum(r.phone_invites for r in done)),
                ("calls at the trunk", sum(r.trunk_invites for r in done)),
            ):
                report.add(f"{mode}: {name}", count, "calls", target=f"{expected}",
                           ok=count == expected)  # fmt: skip
            refused = sum(r.http_status == 503 for r in done)
            report.add(f"{mode}: agent told 503", refused, "rounds", target=f"{len(done)}",
                       ok=refused == len(done))  # fmt: skip
        expected_records = sum(r.expected_calls for r in self.rounds)
        records = self.crm_records
        report.add("records in the CRM", records, "records", target=f"{expected_records}",
                   ok=records == expected_records)  # fmt: skip
        report.add("reconnect after cut max", max(self.reconnect_s, default=0.0) * 1000, "ms")
        report.details = {
            "rounds": [
                {"mode": r.mode, "http": r.http_status, "error": r.error,
                 "originates": r.originates_sent, "phone": r.phone_invites,
                 "trunk": r.trunk_invites, "cdr": r.cdr_calls, "calls": list(r.call_ids)}
                for r in self.rounds
            ],
            "records": self.record_ids,
            "reconnect_s": [round(s, 3) for s in self.reconnect_s],
            "seconds": self.seconds,
        }  # fmt: skip
        return report


async def _login(http: httpx.AsyncClient) -> str:
    reply = await http.post("/login", json={"username": AGENT, "password": PASSWORD})
    reply.raise_for_status()
    return str(reply.json()["csrf"])


def _invites(proc: SippProcess) -> int:
    return len([o for o in proc.outcomes() if o.outcome == "invite"])


@dataclass(frozen=True, slots=True)
class _Setup:
    """What every round uses: the running drill, the agent's logged-in HTTP client, the phones."""

    run: DrillLab
    http: httpx.AsyncClient
    csrf: str
    far_end: SippProcess
    phone: SippAgent
    settle_s: float


async def _round(setup: _Setup, mode: str) -> tuple[OriginateRound, float]:
    """One click-to-dial cut in flight; return what it left and how long AMI was dark."""
    run, http, csrf, far_end, phone = (
        setup.run, setup.http, setup.csrf, setup.far_end, setup.phone
    )  # fmt: skip
    relay = run.relay
    assert relay is not None
    mark = run.cdr.mark()
    sent, rang, out = relay.actions("Originate"), phone.invites(), _invites(far_end)
    armed = (
        relay.cut_on_reply("Originate") if mode == "reply-lost" else relay.cut_on_send("Originate")
    )
    reply = await http.post("/api/dial", json={"number": NUMBER}, headers={"X-CTI-CSRF": csrf})
    if not armed.done() and reply.status_code != 503:  # refused before any Originate went out
        raise LabError(f"the dial API answered {reply.status_code}: {reply.text[:300]}")
    await asyncio.wait_for(armed, timeout=10)
    cut_at = time.monotonic()
    back = await relay.wait_listed(timeout_s=60)
    dark = (back.listed_at or cut_at) - cut_at
    if mode == "reply-lost":  # Asterisk rings the phone, which answers; the call goes out
        await _wait_for(lambda: phone.invites() > rang and _invites(far_end) > out, 30)
    await asyncio.sleep(setup.settle_s)  # a re-sent Originate would ring the phone again by now
    await run.wait_idle(60)
    calls = calls_from(run.cdr.rows(mark), f"PJSIP/{PHONE}-")
    error = reply.json().get("error", "") if reply.status_code >= 400 else ""
    return (
        OriginateRound(
            mode=mode,
            http_status=reply.status_code,
            error=str(error),
            originates_sent=relay.actions("Originate") - sent,
            phone_invites=phone.invites() - rang,
            trunk_invites=_invites(far_end) - out,
            cdr_calls=len(calls),
            call_ids=tuple(f"lab:{linkedid}" for linkedid in sorted(calls)),
        ),
        dark,
    )


async def _wait_for(check: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``check`` (it reads SIPp's logs: nothing to await) until true or ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def run_originate_cut(
    offset: int,
    workdir: Path,
    *,
    rounds: int = 4,
    settle_s: float = 5.0,
    reconnect: ReconnectPolicy | None = None,
) -> OriginateCutResult:
    """Run ``rounds`` click-to-dials, modes in turn, each cut in flight; return the counts."""
    started = time.monotonic()
    done: list[OriginateRound] = []
    dark: list[float] = []
    async with drill_lab(offset, workdir, reconnect=reconnect) as run:
        assert isinstance(run.relay, AmiCutter)
        await run.relay.wait_listed(timeout_s=30)
        far_end = trunk_far_end(
            run.lab.sip, answer_delay_s=0.3, hold_s=1.5, max_calls=4 * rounds, lifetime_s=600
        )
        try:
            with sipp_agents(run.lab, [PHONE], answer_delay_s=0.3) as phones:
                async with httpx.AsyncClient(base_url=run.daemon.origin, timeout=30) as http:
                    csrf = await _login(http)
                    setup = _Setup(run, http, csrf, far_end, phones[PHONE], settle_s)
                    for i in range(rounds):
                        result, seconds = await _round(setup, MODES[i % len(MODES)])
                        done.append(result)
                        dark.append(seconds)
        finally:
            far_end.stop()
            cleanup_workdirs([far_end])
        expected = {call_id for r in done for call_id in r.call_ids}
        await wait_records(run.daemon.store_url, expected, timeout_s=60)
        records = await asyncio.to_thread(crm_calls, run.daemon.store_url)
    return OriginateCutResult(
        rounds=done,
        crm_records=len(records),  # the drill's daemon saw no call but these click-to-dials
        record_ids=sorted(r.call_id for r in records),
        reconnect_s=dark,
        seconds=round(time.monotonic() - started, 1),
    )
