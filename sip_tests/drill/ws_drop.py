"""Drill 4: an agent's websocket dropped during 5 active calls; every pop back, no seq lost.

On the lab Asterisk: the real daemon (``cti serve``) on a one-agent site whose agent has two
lines (extensions 1009 and 1010, pjsua2 phones in processes of their own that answer every
call), and SIPp carrier calls to their DIDs. The agent has two tabs. Tab A reaches the daemon
through a :class:`~sip_tests.drill.relay.TcpRelay`; tab B connects directly and never drops, so its
stream is the reference. The drill then:

1. places calls 1-2 and waits until tab A shows them answered;
2. **black hole** for ``drop_s``: the relay swallows every byte, without FIN or reset; calls
   3-5 ring and are answered meanwhile. Tab A notices by its own ping (no pong) and retries
   until the link heals; then it resumes with its ``last_seq``;
3. **clean close** for ``drop_s``: tab A closes with 1000 and stays away while tab B saves
   notes and a disposition on each of the 5 calls; then tab A resumes;
4. a fresh page (tab C, ``last_seq: null``) gets a snapshot;
5. the 5 calls are hung up in Asterisk and both tabs see them end.

What must hold: after each drop tab A shows the same 5 open pops as tab B; tab A applied
exactly tab B's stream, seq 1 to the last, with no gap and nothing twice; every call popped
once; the snapshot holds the 5 pops.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, delete, insert

from cti.config import LabSettings
from cti.errors import CtiError
from cti.store.models import agent_endpoints
from sip_tests.bench.phones import clear_bindings
from sip_tests.bench.results import Report
from sip_tests.bench.site import Site, SiteDaemon, seed_site
from sip_tests.drill.relay import TcpRelay
from sip_tests.drill.stream_client import StreamTab
from sip_tests.lab import LabHandle, ami_server, direct_did, start_lab
from sip_tests.sipp import SippProcess, cleanup_workdirs, inbound_call

__all__ = ["DropFigures", "WsDropResult", "report", "run_from_cli", "run_ws_drop"]

LINES = ("1009", "1010")  # the drill agent's two phones; no other test rings them


@dataclass(frozen=True, slots=True)
class DropFigures:
    """What one drop of tab A's link cost, and what came back."""

    kind: str  # "blackhole" or "close"
    drop_s: float
    detected_after_s: float | None  # black hole: from the drop to tab A giving the link up
    failed_attempts: int  # reconnects that failed while the link was down
    resumed_after_s: float  # from the end of the drop to tab A's hello
    resume_mode: str
    replayed: int  # messages the daemon replayed after tab A's last_seq
    pops_open: int  # on tab A once caught up
    pops_match: bool  # the same call ids and cards as tab B


@dataclass(slots=True)
class WsDropResult:
    calls: int
    drops: list[DropFigures] = field(default_factory=list)
    stream_messages: int = 0  # tab B's whole stream
    message_kinds: dict[str, int] = field(default_factory=dict)  # tab A's, by type (and state)
    identical_stream: bool = False  # tab A applied exactly tab B's (seq, type, call id) list
    gaps: int = 0
    duplicates: int = 0
    max_pops_per_call: int = 0
    snapshot_pops: int = 0
    snapshot_match: bool = False
    ended_calls: int = 0
    pops_left: int = 0
    seconds: float = 0.0


def _site(workdir: Path) -> Site:
    """One agent (``b0000``) whose lines are the lab phones 1009 and 1010."""
    site = seed_site(workdir, agents=1, contacts=100)
    engine = create_engine(site.store_url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(agent_endpoints))
            conn.execute(
                insert(agent_endpoints),
                [{"agent_id": 1, "endpoint": f"PJSIP/{ext}", "server": None} for ext in LINES],
            )
    finally:
        engine.dispose()
    return site


def _daemon(site: Site, lab: LabHandle) -> SiteDaemon:
    servers = json.dumps([ami_server(lab)])
    return SiteDaemon(
        site, lab.settings.ami_port, extra_env={"CTI_SERVERS": servers, "CTI_LOG_LEVEL": "INFO"}
    )


def _start_phones(lab: LabHandle, work: Path) -> list[subprocess.Popen[bytes]]:
    clear_bindings(lab, LINES)
    procs = []
    for ext in LINES:  # one process a line: a process holds at most 4 call legs
        cfg = {
            "registrar": lab.registrar,
            "phones": [[ext, lab.password(ext)]],
            "answer_after_s": 0.3,
            "ready_file": str(work / f"phone-{ext}.ready"),
            "stop_file": str(work / "phones.stop"),
            "out_file": str(work / f"phone-{ext}.jsonl"),
            "lifetime_s": 900,
        }
        path = work / f"phone-{ext}.json"
        path.write_text(json.dumps(cfg))
        with (work / f"phone-{ext}.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sip_tests.bench.phones", str(path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    deadline = time.monotonic() + 30
    while not all((work / f"phone-{ext}.ready").exists() for ext in LINES):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise CtiError(f"the drill's phones did not register; see {work}/phone-*.log")
        time.sleep(0.1)
    return procs


async def _until(what: str, check: Callable[[], bool], within: float) -> float:
    """Wait until ``check()`` holds; return when (monotonic); raise CtiError past ``within``."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise CtiError(f"ws-drop drill: {what} within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic()


class _Drill:
    """The drill's moving parts and its steps; tab A goes through the relay, tab B does not."""

    def __init__(self, lab: LabHandle, site: Site, relay: TcpRelay, daemon: SiteDaemon) -> None:
        self.lab, self.site, self.relay, self.daemon = lab, site, relay, daemon
        url = f"ws://127.0.0.1:{daemon.port}/ws"
        via_relay = f"ws://127.0.0.1:{relay.port}/ws"
        cookie = site.cookie(0)
        self.a = StreamTab(via_relay, daemon.origin, cookie, name="A")
        self.b = StreamTab(url, daemon.origin, cookie, name="B", ping_s=5.0, pong_within_s=10.0)
        self.fresh_url, self.origin, self.cookie = via_relay, daemon.origin, cookie
        self.sipp: list[SippProcess] = []
        self.hold_s = 0.0

    def call(self, n: int) -> None:
        """Place call ``n`` (from CRM contact ``n``) to the drill agent's lines in turn."""
        ext = LINES[n % len(LINES)]
        self.sipp.append(
            inbound_call(
                self.lab.sip,
                direct_did(ext),
                self.site.caller(n),
                f"Drill caller {n + 1}",
                answer_timeout_s=10,
                hold_s=self.hold_s,
            )
        )

    def explain(self) -> str:
        """What each tab saw and how each SIPp call went, for a failure's message."""
        calls = [proc.describe() for proc in self.sipp]
        return (
            f"tab A states {self.a.states}; tab B states {self.b.states}; SIPp calls {calls}; "
            f"daemon log: {self.daemon.log_tail(15)}"
        )

    def answered(self, tab: StreamTab, count: int) -> bool:
        return sum(1 for s in tab.states.values() if s == "answered") >= count

    def caught_up(self, hellos_before: int) -> bool:
        return len(self.a.hellos) > hellos_before and self.a.last_seq == self.b.last_seq

    def figures(self, kind: str, *, dropped: float, back: float, attempts: int) -> DropFigures:
        hello = self.a.hellos[-1]
        lost = [t for t in self.a.lost_at if t >= dropped]
        return DropFigures(
            kind=kind,
            drop_s=round(back - dropped, 2),
            detected_after_s=round(lost[0] - dropped, 2) if lost else None,
            failed_attempts=self.a.failed_attempts - attempts,
            resumed_after_s=round(hello.at - back, 3),
            resume_mode=hello.mode,
            replayed=hello.replayed,
            pops_open=len(self.a.pops),
            pops_match=self.a.pops == self.b.pops,
        )

    async def blackhole(self, calls: int, drop_s: float) -> DropFigures:
        hellos, attempts = len(self.a.hellos), self.a.failed_attempts
        dropped = time.monotonic()
        self.relay.blackhole()
        for n in range(2, calls):
            await asyncio.to_thread(self.call, n)  # SIPp is waited for until it listens
        await _until("tab B to see every call answered", lambda: self.answered(self.b, calls), 30)
        await asyncio.sleep(max(0.0, dropped + drop_s - time.monotonic()))
        back = time.monotonic()
        self.relay.heal()
        await _until("tab A to resume after the black hole", lambda: self.caught_up(hellos), 30)
        return self.figures("blackhole", dropped=dropped, back=back, attempts=attempts)

    async def clean_close(self, drop_s: float) -> DropFigures:
        hellos, attempts = len(self.a.hellos), self.a.failed_attempts
        dropped = time.monotonic()
        await self.a.go_offline()
        saved_before = sum(1 for _, kind, _ in self.b.applied if kind.endswith("_saved"))
        for call_id in sorted(self.b.pops):
            await self.b.send("notes", {"call_id": call_id, "text": f"drill note on {call_id}"})
            await self.b.send("disposition", {"call_id": call_id, "value": "Resolved"})
        want = saved_before + 2 * len(self.b.pops)
        await _until(
            "tab B to see its notes saved",
            lambda: sum(1 for _, k, _ in self.b.applied if k.endswith("_saved")) >= want,
            20,
        )
        await asyncio.sleep(max(0.0, dropped + drop_s - time.monotonic()))
        back = time.monotonic()
        self.a.go_online()
        await _until("tab A to resume after the clean close", lambda: self.caught_up(hellos), 30)
        return self.figures("close", dropped=dropped, back=back, attempts=attempts)

    async def snapshot(self) -> tuple[int, bool]:
        """Open a fresh page (no last_seq) through the relay; return its pops and whether they
        match tab B's open pops."""
        fresh = StreamTab(self.fresh_url, self.origin, self.cookie, name="C")
        task = asyncio.create_task(fresh.run())
        try:
            await _until("a fresh page to get its snapshot", lambda: bool(fresh.hellos), 15)
            await asyncio.sleep(0.2)
        finally:
            await fresh.stop()
            await task
        return len(fresh.pops), fresh.pops.keys() == self.b.pops.keys()

    def hang_up_lines(self) -> None:
        """End the drill's calls in Asterisk, only the channels of the drill's two lines."""
        listing = self.lab.instance.cli("core show channels concise", check=False)
        for line in listing.splitlines():
            channel = line.split("!", 1)[0]
            if channel.startswith(tuple(f"PJSIP/{ext}-" for ext in LINES)):
                self.lab.instance.cli(f"channel request hangup {channel}", check=False)


async def _exercise(drill: _Drill, result: WsDropResult, calls: int, drop_s: float) -> None:
    tabs = [asyncio.create_task(tab.run(), name=f"tab {tab.name}") for tab in (drill.a, drill.b)]
    try:
        await _until("both tabs to say hello", lambda: bool(drill.a.hellos and drill.b.hellos), 20)
        for n in range(min(2, calls)):
            await asyncio.to_thread(drill.call, n)
        try:
            await _until(
                "tab A to see the first calls answered",
                lambda: drill.answered(drill.a, min(2, calls)),
                30,
            )
        except CtiError as exc:
            raise CtiError(f"{exc}; {drill.explain()}") from exc
        result.drops.append(await drill.blackhole(calls, drop_s))
        result.drops.append(await drill.clean_close(drop_s))
        result.snapshot_pops, result.snapshot_match = await drill.snapshot()
        await asyncio.to_thread(drill.hang_up_lines)
        await _until(
            "both tabs to see every call end",
            lambda: all(
                sum(1 for s in tab.states.values() if s == "ended") >= calls
                and tab.last_seq == drill.b.last_seq
                for tab in (drill.a, drill.b)
            ),
            30,
        )
    finally:
        for tab in (drill.a, drill.b):
            await tab.stop()
        await asyncio.gather(*tabs, return_exceptions=True)
    a, b = drill.a, drill.b
    result.stream_messages = len(b.applied)
    result.message_kinds = dict(Counter(kind for _, kind, _ in a.applied))
    result.identical_stream = a.applied == b.applied and [s for s, _, _ in b.applied] == list(
        range(1, len(b.applied) + 1)
    )
    result.gaps = len(a.gaps) + len(b.gaps)
    result.duplicates = len(a.duplicates) + len(b.duplicates)
    result.max_pops_per_call = max([*a.pop_messages.values(), 0])
    result.ended_calls = sum(1 for s in a.states.values() if s == "ended")
    result.pops_left = len(a.pops)


async def run_ws_drop(
    lab: LabHandle, *, drop_s: float = 30.0, calls: int = 5, workdir: Path | None = None
) -> WsDropResult:
    """Run the drill on ``lab`` (a running lab instance); return its figures."""
    if not 1 <= calls <= 6:
        raise ValueError("the drill's two phone processes answer at most 6 calls (3 legs each)")
    started = time.monotonic()
    result = WsDropResult(calls=calls)
    with tempfile.TemporaryDirectory(prefix="cti-drill-ws-", dir=workdir) as tmp:
        work = Path(tmp)
        site = await asyncio.to_thread(_site, work / "site")
        daemon = _daemon(site, lab)
        phones = await asyncio.to_thread(_start_phones, lab, work)
        relay = TcpRelay(daemon.port)
        drill: _Drill | None = None
        try:
            await asyncio.to_thread(daemon.start)
            await relay.start()
            drill = _Drill(lab, site, relay, daemon)
            drill.hold_s = 2 * drop_s + 120  # longer than the drill: it hangs the calls up
            await _exercise(drill, result, calls, drop_s)
        finally:
            await relay.close()
            if drill is not None:
                await asyncio.to_thread(drill.hang_up_lines)
                for proc in drill.sipp:
                    await asyncio.to_thread(proc.stop)
                cleanup_workdirs(drill.sipp)
            await asyncio.to_thread(daemon.stop)
            (work / "phones.stop").write_text("stop")
            for phone in phones:
                await asyncio.to_thread(_reap, phone)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def report(result: WsDropResult) -> Report:
    """The drill's figures as a benchmark report (printed, and saved as JSON)."""
    out = Report("drill-ws-drop", quick=False)
    for drop in result.drops:
        label = f"{drop.kind} {drop.drop_s:g} s"
        if drop.detected_after_s is not None:
            out.add(f"{label}: link given up after", drop.detected_after_s, "s")
            out.add(f"{label}: reconnects lost in the hole", drop.failed_attempts, "")
        out.add(f"{label}: resumed after the link was back", drop.resumed_after_s * 1000, "ms")
        out.add(f"{label}: replayed ({drop.resume_mode})", drop.replayed, "msgs")
        out.add(
            f"{label}: pops restored",
            drop.pops_open,
            "pops",
            target=f"= {result.calls}, as tab B",
            ok=drop.pops_open == result.calls and drop.pops_match,
        )
    out.add("stream messages (seq 1..N)", result.stream_messages, "msgs")
    out.add("seq gaps", result.gaps, "", target="0", ok=result.gaps == 0)
    out.add("seq duplicates", result.duplicates, "", target="0", ok=result.duplicates == 0)
    out.add(
        "tab A stream = tab B stream",
        float(result.identical_stream),
        "",
        target="1",
        ok=result.identical_stream,
    )
    out.add(
        "pop frames per call (max)",
        result.max_pops_per_call,
        "",
        target="1",
        ok=result.max_pops_per_call == 1,
    )
    out.add(
        "fresh page snapshot pops",
        result.snapshot_pops,
        "pops",
        target=f"= {result.calls}",
        ok=result.snapshot_pops == result.calls and result.snapshot_match,
    )
    out.add(
        "calls ended on tab A",
        result.ended_calls,
        "",
        target=f"= {result.calls}",
        ok=result.ended_calls == result.calls,
    )
    out.details = asdict(result)
    return out


def run_from_cli(lab_settings: LabSettings, drop_s: float, calls: int) -> Report:
    """``cti drill ws-drop``: bring the configured lab up, run the drill, return its report."""
    lab = start_lab(lab_settings)
    try:
        result = asyncio.run(run_ws_drop(lab, drop_s=drop_s, calls=calls))
    finally:
        if lab.started_here:
            lab.instance.stop()
    return report(result)
