"""Pop vs ring on the real lab: from the INVITE reaching an agent's phone to the pop at its tab.

Processes, all on loopback: the lab Asterisk; SIPp carrier calls, one SIPp per agent DID at a
bounded rate (``_PER_PHONE_RATE``), started a fraction of a period apart so calls spread evenly;
8 pjsua2 phones (1001-1008) in two processes (:mod:`sip_tests.bench.phones`), which answer each call
0.5 s after its INVITE; the real daemon (``cti serve``) on a site whose agents ``b0000``-``b0007``
own those phones; the agents' websocket clients (:mod:`sip_tests.bench.wsclient`).

The figure is ``pop arrival - INVITE arrival`` per call, both ``time.monotonic()`` (one
CLOCK_MONOTONIC for every process of the machine): the phone stamps first thing in pjsua2's
``onIncomingCall``, the client as it reads the frame. Negative means the pop came first. A
pop is paired with the INVITE of the same agent's phone nearest in time; calls to one phone are
``1 / _PER_PHONE_RATE`` seconds apart, far more than any pairing window, so no pairing is
ambiguous.

The floor runs the same calls, phones and clients through :class:`RingFloor`: a bare
websocket relay on the lab's own AMI that sends a pop-sized frame to the rung agent from the
read callback of ``DialBegin``. What is left between the two passes is the product's own work;
the floor itself is Asterisk's AMI-vs-SIP ordering plus one websocket hop.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import create_engine, update

from cti.config import LabSettings
from cti.store.models import agent_endpoints
from sip_tests.bench.phones import clear_bindings
from sip_tests.bench.pop import _spawn, _stop_all, _wait_file
from sip_tests.bench.results import Report, summary_ms
from sip_tests.bench.site import Site, SiteDaemon, seed_site
from sip_tests.daemon import free_tcp_port
from sip_tests.lab import LabHandle, ami_server, direct_did, start_lab
from sip_tests.sipp import SippProcess, cleanup_workdirs, inbound_load

__all__ = ["run_ring"]

PHONES = tuple(str(1001 + i) for i in range(8))
_PER_PROCESS = 4  # a pjsua2 process holds 4 call legs: one call at a time per phone
_PER_PHONE_RATE = 0.4  # calls/s to each phone: 3.2 calls/s in all
_ANSWER_AFTER_S = 0.5
_PAIR_WINDOW_S = 1.0

_Seen = tuple[list[tuple[float, int]], float, float]  # pops (at, agent); calls' start and end


def _site(workdir: Path) -> Site:
    """Agents b0000-b0007 on the lab phones 1001-1008."""
    site = seed_site(workdir, agents=len(PHONES), contacts=2_000)
    engine = create_engine(site.store_url)
    try:
        with engine.begin() as conn:
            for index, ext in enumerate(PHONES):
                conn.execute(
                    update(agent_endpoints)
                    .where(agent_endpoints.c.agent_id == index + 1)
                    .values(endpoint=f"PJSIP/{ext}")
                )
    finally:
        engine.dispose()
    return site


class _Pass:
    """One pass: clients (on the daemon or the floor), then the calls, then what they saw."""

    def __init__(self, work: Path, lab: LabHandle, site: Site, calls_per_phone: int) -> None:
        self.work, self.lab, self.site = work, lab, site
        self.calls_per_phone = calls_per_phone
        work.mkdir(parents=True)

    def clients(self, url: str, origin: str, *, cookies: bool) -> subprocess.Popen[bytes]:
        cfg = {
            "url": url,
            "origin": origin,
            "connections": [
                [i, self.site.cookie(i) if cookies else None] for i in range(len(PHONES))
            ],
            "ready_file": str(self.work / "clients-ready"),
            "stop_file": str(self.work / "stop"),
            "out_file": str(self.work / "pops.jsonl"),
            "lifetime_s": 900,
        }
        proc = _spawn("sip_tests.bench.wsclient", cfg, self.work / "clients.json")
        _wait_file(self.work / "clients-ready", 60, [proc])
        return proc

    def place_calls(self, first_call: int) -> tuple[float, float]:
        """Run every phone's SIPp; return the monotonic start and end of the calls."""
        period = 1 / _PER_PHONE_RATE
        started = time.monotonic()
        sipps: list[SippProcess] = []
        try:
            for k, ext in enumerate(PHONES):
                time.sleep(max(0.0, started + k * period / len(PHONES) - time.monotonic()))
                base = first_call + k * self.calls_per_phone
                callers = [
                    (self.site.caller(base + j), f"Bench {base + j}")
                    for j in range(self.calls_per_phone)
                ]
                sipps.append(
                    inbound_load(
                        self.lab.sip,
                        direct_did(ext),
                        callers,
                        rate_per_s=_PER_PHONE_RATE,
                        count=self.calls_per_phone,
                        hold_s=0.3,
                        answer_timeout_s=10,
                        max_concurrent=2,
                    )
                )
            budget = self.calls_per_phone * period + 60
            for sipp in sipps:
                sipp.wait(budget)
        finally:
            for sipp in sipps:
                sipp.stop()
            cleanup_workdirs(sipps)
        time.sleep(1.0)  # the last pops land
        return started, time.monotonic()

    def pops(self) -> list[tuple[float, int]]:
        path = self.work / "pops.jsonl"
        _wait_file(path, 30)
        first: dict[tuple[int, str], float] = {}
        for line in path.read_text().splitlines():
            at, agent, call_id = json.loads(line)[:3]  # later fields: sizes
            first.setdefault((agent, call_id), at)
        return [(at, agent) for (agent, _), at in first.items()]


def _pair(
    pops: Sequence[tuple[float, int]], invites: dict[str, list[float]]
) -> tuple[list[float], int]:
    """Pop minus INVITE for each pop with its phone's INVITE within the window; and misses."""
    delays, missed = [], 0
    for at, agent in pops:
        times = invites.get(PHONES[agent], [])
        i = bisect_left(times, at)
        near = [t for t in times[max(0, i - 1) : i + 1] if abs(at - t) <= _PAIR_WINDOW_S]
        if near:
            delays.append(at - min(near, key=lambda t: abs(at - t)))
        else:
            missed += 1
    return delays, missed


def _phones(lab: LabHandle, work: Path) -> list[subprocess.Popen[bytes]]:
    clear_bindings(lab, PHONES)
    procs = []
    for first in range(0, len(PHONES), _PER_PROCESS):
        exts = PHONES[first : first + _PER_PROCESS]
        cfg = {
            "registrar": lab.registrar,
            "phones": [[ext, lab.password(ext)] for ext in exts],
            "answer_after_s": _ANSWER_AFTER_S,
            "ready_file": str(work / f"phones-{first}.ready"),
            "stop_file": str(work / "phones.stop"),
            "out_file": str(work / f"invites-{first}.jsonl"),
            "lifetime_s": 1800,
        }
        procs.append(_spawn("sip_tests.bench.phones", cfg, work / f"phones-{first}.json"))
    for first in range(0, len(PHONES), _PER_PROCESS):
        _wait_file(work / f"phones-{first}.ready", 60, procs)
    return procs


def _invites(work: Path, start: float, end: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for path in sorted(work.glob("invites-*.jsonl")):
        for line in path.read_text().splitlines():
            at, ext, _caller, _answered = json.loads(line)
            if start <= at <= end:
                out.setdefault(ext, []).append(at)
    for times in out.values():
        times.sort()
    return out


def _product(run: _Pass, lab: LabHandle, first_call: int) -> _Seen:
    daemon = SiteDaemon(
        run.site, lab.settings.ami_port, extra_env={"CTI_SERVERS": json.dumps([ami_server(lab)])}
    )
    daemon.start()
    clients = None
    try:
        deadline = time.monotonic() + 30
        while not daemon.healthy() and time.monotonic() < deadline:
            time.sleep(0.2)
        clients = run.clients(f"ws://127.0.0.1:{daemon.port}/ws", daemon.origin, cookies=True)
        time.sleep(1.0)
        start, end = run.place_calls(first_call)
    finally:
        (run.work / "stop").write_text("stop")
        daemon.stop()
        _stop_all([clients] if clients is not None else [])
    return run.pops(), start, end


def _floor(run: _Pass, lab: LabHandle, first_call: int) -> _Seen:
    s = lab.settings
    cfg = {
        "ami_port": s.ami_port,
        "username": s.ami_username,
        "secret": s.ami_secret.get_secret_value(),
        "ws_port": free_tcp_port(),
        "frame_bytes": 6000,
        "ready_file": str(run.work / "floor-ready"),
        "stop_file": str(run.work / "stop"),
    }
    procs = [_spawn("sip_tests.bench.ring_floor", cfg, run.work / "floor.json")]
    try:
        _wait_file(run.work / "floor-ready", 30, procs)
        url = f"ws://127.0.0.1:{cfg['ws_port']}/ws"
        procs.append(run.clients(url, "http://127.0.0.1", cookies=False))
        time.sleep(1.0)
        start, end = run.place_calls(first_call)
    finally:
        (run.work / "stop").write_text("stop")
        _stop_all(procs)
    return run.pops(), start, end


def run_ring(*, quick: bool, lab_settings: LabSettings, workdir: Path | None = None) -> Report:
    """Bring the lab up, run the product pass and the floor pass; return the report."""
    calls_per_phone = 5 if quick else 25
    report = Report("ring", quick)
    lab = start_lab(lab_settings)
    try:
        with tempfile.TemporaryDirectory(prefix="cti-bench-ring-", dir=workdir) as tmp:
            work = Path(tmp)
            site = _site(work / "site")
            phones = _phones(lab, work)
            try:
                lab.wait_idle(30)
                product = _product(_Pass(work / "product", lab, site, calls_per_phone), lab, 0)
                lab.wait_idle(30)
                first = len(PHONES) * calls_per_phone
                floor = _floor(_Pass(work / "floor", lab, site, calls_per_phone), lab, first)
            finally:
                (work / "phones.stop").write_text("stop")
                _stop_all(phones)
            _report(report, work, product, floor, len(PHONES) * calls_per_phone)
    finally:
        if lab.started_here:
            lab.instance.stop()
    return report


def _report(
    report: Report,
    work: Path,
    product: _Seen,
    floor: _Seen,
    calls: int,
) -> None:
    ours, ours_missed = _pair(product[0], _invites(work, product[1], product[2]))
    base, base_missed = _pair(floor[0], _invites(work, floor[1], floor[2]))
    mine, bare = summary_ms(ours), summary_ms(base)
    rate = _PER_PHONE_RATE * len(PHONES)
    label = f"pop after INVITE, {calls} calls at {rate:g}/s"
    report.add(f"{label} p50", mine["p50_ms"], "ms", floor=bare["p50_ms"])
    report.add(
        f"{label} p99",
        mine["p99_ms"],
        "ms",
        floor=bare["p99_ms"],
        target="<= 20 ms",
        ok=mine["p99_ms"] <= 20,
    )
    report.add(f"{label} max", mine["max_ms"], "ms", floor=bare["max_ms"])
    report.add("pops paired with an INVITE", len(ours), "", floor=len(base))
    report.add("pops without an INVITE in 1 s", ours_missed, "", floor=base_missed)
    report.details = {
        "calls": calls,
        "rate_per_s": rate,
        "answer_after_s": _ANSWER_AFTER_S,
        "product": mine,
        "floor": bare,
        "product_delays_ms": [round(d * 1000, 3) for d in ours],
        "floor_delays_ms": [round(d * 1000, 3) for d in base],
    }
