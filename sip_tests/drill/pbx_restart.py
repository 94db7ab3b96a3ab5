"""Drill 2: Asterisk restarted (``core restart now``) under live calls; every call closed and
flagged, and the daemon back by itself.

SIPp carriers place calls straight to the ten agent phones (SIPp, answering); once Asterisk has
them all up and the daemon tracks every one, the drill restarts Asterisk. Asterisk 22 hangs up
every channel first (a SoftHangupRequest with ``Cause: 4``, AST_SOFTHANGUP_SHUTDOWN, then an
ordinary Hangup), sends ``Shutdown`` (``Restart: True``) only after them, drops the AMI
connection and execs itself. Each call must end with one record that says the restart cut it.
The daemon reconnects with its own backoff (the product's defaults unless the drill is told
otherwise); the drill only watches ``/healthz``.

Ground truth is Asterisk's own list of the calls up just before the restart (``core show
channels``: the trunk channel of each call, whose uniqueid is the call's linkedid); the CDR
rows Asterisk writes as it hangs them up are counted too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from cti.errors import LabError
from cti.lab.ami_probe import wait_fully_booted
from sip_tests.agent_phones import sipp_agents
from sip_tests.bench.results import Report
from sip_tests.cdr import calls_from
from sip_tests.drill.lab_run import CrmCall, DrillLab, ReconnectPolicy, drill_lab, wait_records
from sip_tests.lab import direct_did
from sip_tests.sipp import SippProcess, cleanup_workdirs, inbound_load

__all__ = ["PbxRestartResult", "run_pbx_restart"]

AGENTS = tuple(f"10{n:02d}" for n in range(1, 11))
TRUNK_CHANNEL = "PJSIP/lab-trunk-"


@dataclass(slots=True)
class PbxRestartResult:
    live_calls: list[str]  # linkedids of the calls up when Asterisk restarted
    tracked_before: int  # calls the daemon had up then
    tracked_after: int  # calls the daemon has up after its resync
    records: list[CrmCall]  # the CRM's records of the live calls
    cdr_rows_of_live_calls: int
    asterisk_back_s: float  # restart -> Asterisk's AMI FullyBooted again
    daemon_back_s: float  # restart -> the daemon logged in again (``/healthz``)
    seconds: float

    @property
    def missing(self) -> list[str]:
        have = {r.linkedid for r in self.records}
        return [c for c in self.live_calls if c not in have]

    @property
    def unflagged(self) -> list[str]:
        return [r.linkedid for r in self.records if not r.flags]

    def report(self, quick: bool) -> Report:
        report = Report("drill-pbx-restart", quick)
        live = len(self.live_calls)
        report.add("live calls at restart (Asterisk)", live, "calls")
        report.add("live calls the daemon tracked", self.tracked_before, "calls")
        report.add("records in the CRM", len(self.records), "records", target=f"{live}",
                   ok=len(self.records) == live)  # fmt: skip
        report.add("calls without a record", len(self.missing), "calls", target="0",
                   ok=not self.missing)  # fmt: skip
        report.add("records not flagged", len(self.unflagged), "records", target="0",
                   ok=not self.unflagged)  # fmt: skip
        report.add("calls still open after resync", self.tracked_after, "calls", target="0",
                   ok=self.tracked_after == 0)  # fmt: skip
        report.add("CDR rows of those calls", self.cdr_rows_of_live_calls, "rows")
        report.add("Asterisk back (FullyBooted)", self.asterisk_back_s, "s")
        report.add("daemon reconnected", self.daemon_back_s, "s", target="<= 30 s",
                   ok=self.daemon_back_s <= 30)  # fmt: skip
        flags: dict[str, int] = {}
        for record in self.records:
            for flag in record.flags:
                flags[flag] = flags.get(flag, 0) + 1
        report.details = {
            "missing": self.missing,
            "unflagged": self.unflagged,
            "flags": flags,
            "outcomes": sorted({r.outcome for r in self.records}),
            "seconds": self.seconds,
        }
        return report


def _live_trunk_calls(run: DrillLab) -> list[str]:
    """The uniqueids (= linkedids) of the trunk channels Asterisk has up now."""
    found = []
    for line in run.lab.instance.cli("core show channels concise").splitlines():
        fields = line.split("!")  # Channel!Context!Exten!Prio!State!...!BridgeID!Uniqueid
        if len(fields) > 13 and fields[0].startswith(TRUNK_CHANNEL) and fields[4] == "Up":
            found.append(fields[13])
    return sorted(found)


async def _wait_all_up(run: DrillLab, calls: int, timeout_s: float, *, enough: float) -> None:
    """Wait until Asterisk has ``calls`` answered trunk calls and the daemon tracks as many.

    After ``timeout_s``, go on with the calls that are up if they are at least ``enough`` of
    them and the daemon tracks exactly those: a carrier call the loaded host lost before it was
    answered (SIPp gave up on it) is not what the drill checks; every call up at the restart is.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        up = len(await asyncio.to_thread(_live_trunk_calls, run))
        tracked = int((await run.health())["active_calls"])
        if up >= calls and tracked >= calls:
            return
        if time.monotonic() > deadline:
            if up >= enough * calls and tracked == up:
                return
            raise LabError(f"only {up} calls up in Asterisk, {tracked} tracked, of {calls}")
        await asyncio.sleep(0.25)


async def _restart(run: DrillLab) -> tuple[float, float]:
    """Restart Asterisk now; return when its AMI and then the daemon were back (seconds)."""
    s = run.lab.settings
    secret = s.ami_secret.get_secret_value()
    started = time.monotonic()
    await asyncio.to_thread(run.lab.instance.cli, "core restart now", check=False)
    await asyncio.sleep(0.2)  # let it go down before asking whether it is up
    asterisk = daemon = None
    while daemon is None or asterisk is None:
        if time.monotonic() - started > 120:
            raise LabError("Asterisk or the daemon not back 120 s after `core restart now`")
        if asterisk is None and await asyncio.to_thread(
            wait_fully_booted, "127.0.0.1", s.ami_port, s.ami_username, secret, timeout_s=1.0
        ):
            asterisk = time.monotonic() - started
        if daemon is None and await run.ami_ready():
            daemon = time.monotonic() - started
        await asyncio.sleep(0.05)
    return asterisk, daemon


def _start_calls(run: DrillLab, calls: int, rate_per_s: float) -> list[SippProcess]:
    per_agent = [calls // len(AGENTS) + (i < calls % len(AGENTS)) for i in range(len(AGENTS))]
    return [
        inbound_load(
            run.lab.sip,
            direct_did(ext),
            [("+442079460001", "Alice Archer"), ("+442079469903", "")],
            rate_per_s=rate_per_s / len(AGENTS),
            count=count,
            hold_s=600,  # they last until the restart cuts them
            answer_timeout_s=30,
        )
        for ext, count in zip(AGENTS, per_agent, strict=True)
        if count
    ]


async def run_pbx_restart(
    offset: int,
    workdir: Path,
    *,
    calls: int = 50,
    rate_per_s: float = 10.0,
    reconnect: ReconnectPolicy | None = None,
    enough: float = 1.0,
) -> PbxRestartResult:
    """Run the drill on lab instance ``offset``; return what the CRM holds of the live calls.

    ``enough``: the share of ``calls`` that must be up before the restart (see
    :func:`_wait_all_up`); the command asks for all of them.
    """
    started = time.monotonic()
    async with drill_lab(offset, workdir, through_relay=False, reconnect=reconnect) as run:
        with sipp_agents(run.lab, AGENTS, answer_delay_s=0.3):
            carriers = _start_calls(run, calls, rate_per_s)
            try:
                await _wait_all_up(run, calls, timeout_s=calls / rate_per_s + 60, enough=enough)
                live = await asyncio.to_thread(_live_trunk_calls, run)
                tracked = int((await run.health())["active_calls"])
                asterisk_back, daemon_back = await _restart(run)
            finally:
                for carrier in carriers:
                    carrier.stop()
                cleanup_workdirs(carriers)
            expected = {f"lab:{linkedid}" for linkedid in live}
            records = await wait_records(run.daemon.store_url, expected, timeout_s=90)
            tracked_after = int((await run.health())["active_calls"])
        cdr = calls_from(run.cdr.rows(run.cdr_mark), TRUNK_CHANNEL)
    return PbxRestartResult(
        live_calls=live,
        tracked_before=tracked,
        tracked_after=tracked_after,
        records=[r for r in records if r.linkedid in set(live)],
        cdr_rows_of_live_calls=sum(len(cdr.get(linkedid, [])) for linkedid in live),
        asterisk_back_s=round(asterisk_back, 2),
        daemon_back_s=round(daemon_back, 2),
        seconds=round(time.monotonic() - started, 1),
    )
