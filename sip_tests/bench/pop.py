"""Pop latency under load: from the AMI event that rings a phone to the pop at the agent.

Processes, all on loopback: the AMI replayer (:mod:`sip_tests.bench.replayer`) plays recorded lab
calls at 10, 50, 100 and 200 calls a second; the real daemon (``cti serve``) reads it; agent
websocket clients (:mod:`sip_tests.bench.wsclient`, up to 500 per process) hold 100 or 1000 agents.
Latency is the replayer's monotonic time of writing the ``AgentCalled``/``DialBegin`` of an
agent's phone to the client's monotonic time of reading that agent's ``pop`` frame. The floor
runs the same stream and clients through :mod:`sip_tests.bench.floor` (a bare websocket relay) and
sends frames of the size the product's pops had (the median), measured in the same run.

On a small machine the clients can saturate before the daemon does, and late clients stamp
late pops: every process's CPU (and the daemon's event-loop thread's) is sampled from /proc
during each phase and reported beside the latencies, so a figure bounded by the clients or the
replayer shows as such.

With report readers (``--with-reports``), the site's store also holds a year of calls and
their report buckets (:mod:`sip_tests.bench.report_load`) and the product runs twice on it,
without and then with reader loops (:mod:`sip_tests.bench.report_reader`) asking the daemon
for reports from the first call to the last; each latency and the daemon's CPU per event are
printed both ways.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sip_tests.bench.daemon_metrics import HISTOGRAMS, Scrape, phase_quantile, scrape
from sip_tests.bench.holds import add_hold_rows, holds_env, read_holds
from sip_tests.bench.report_load import ReportLoad, add_read_rows, read_figures, report_load
from sip_tests.bench.reports import FULL_PLAN, QUICK_PLAN
from sip_tests.bench.results import Report, summary_ms
from sip_tests.bench.site import Site, SiteDaemon, agent_of, phone_of, seed_site
from sip_tests.daemon import cpu_seconds, free_tcp_port

__all__ = ["PopRecords", "run_pop"]

_PER_PROCESS = 500
CPU_PER_EVENT_TARGET_US = 30  # the whole daemon, all threads, at 100 calls/s (issue 20)
_READING = "(reports read)"  # a figure of the pass with report readers


@dataclass(frozen=True, slots=True)
class _Phase:
    rate: float
    calls: int


def _spawn(module: str, cfg: dict[str, Any], path: Path) -> subprocess.Popen[bytes]:
    path.write_text(json.dumps(cfg))
    log = path.with_suffix(".log").open("ab")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", module, str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_file(path: Path, timeout_s: float, procs: Sequence[subprocess.Popen[bytes]] = ()) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a benchmark process exited early ({proc.args!r})")
        time.sleep(0.05)
    raise RuntimeError(f"{path.name} did not appear within {timeout_s} s")


def _stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_Samples = list[tuple[float, dict[str, float]]]  # (monotonic time, CPU seconds per role)


def _sample(roles: dict[str, tuple[int, int | None]]) -> dict[str, float]:
    """CPU seconds of each role (a process, or one thread of it) now; a role named
    ``...-kernel`` counts the kernel's part alone (system time: socket sends and reads)."""
    out = {}
    for role, (pid, thread) in roles.items():
        cpu = cpu_seconds(pid, thread, kernel_only=role.endswith("-kernel"))
        if cpu is not None:
            out[role] = cpu
    return out


@dataclass(frozen=True, slots=True)
class PopRecords:
    """What the clients read, matched with the events that rang each agent, per phase.

    A pop read after the window (``window_end``: the replayer's pause and 2 s more after its
    last event) is late: counted in ``late``, not in ``latency``. A ring with no pop at all,
    even late, is in ``missing`` as ``(linkedid, endpoint)``.
    """

    latency: dict[int, list[float]]  # seconds from the ring to the pop, read in the window
    sizes: list[int]  # characters of every first pop
    pending: dict[int, int]  # pops in the window that went out before the CRM answered
    late: dict[int, list[float]]  # seconds from the ring to the pops read after the window
    missing: dict[int, list[tuple[str, str]]]


class _Run:
    """One pass: replayer + (daemon or floor) + clients, over every phase; with ``readers``
    loops reading the site's reports (``reports``) from the first call to the last.

    ``late_s``: how long the clients go on reading after the window closed, so that a pop
    read late is told apart from one never sent.
    """

    def __init__(
        self,
        work: Path,
        site: Site,
        phases: Sequence[_Phase],
        *,
        floor: bool,
        late_s: float = 0.0,
        reports: ReportLoad | None = None,
        readers: int = 0,
        holds: bool = False,
    ) -> None:
        self.work = work
        self.holds = holds and not floor
        self.site = site
        self.phases = phases
        self.floor = floor
        self.late_s = late_s
        self.window_end = float("inf")
        self.reports = reports
        self.readers = readers if reports is not None else 0
        work.mkdir(parents=True, exist_ok=True)

    def clients(self, url: str, origin: str) -> list[subprocess.Popen[bytes]]:
        procs = []
        agents = self.site.agents
        for first in range(0, agents, _PER_PROCESS):
            indexes = range(first, min(agents, first + _PER_PROCESS))
            cfg = {
                "url": url,
                "origin": origin,
                "connections": [[i, None if self.floor else self.site.cookie(i)] for i in indexes],
                "ready_file": str(self.work / f"ready-{first}"),
                "stop_file": str(self.work / "stop"),
                "out_file": str(self.work / f"pops-{first}.jsonl"),
                "lifetime_s": 600,
            }
            procs.append(
                _spawn("sip_tests.bench.wsclient", cfg, self.work / f"client-{first}.json")
            )
        for first in range(0, agents, _PER_PROCESS):
            _wait_file(self.work / f"ready-{first}", 180, procs)
        return procs

    def _server(
        self, procs: list[subprocess.Popen[bytes]], ami_port: int, frame_bytes: int
    ) -> tuple[SiteDaemon | None, int, str, str]:
        """Start the daemon (or the floor); return it, its pid, the websocket URL and Origin."""
        work = self.work
        if self.floor:
            ws_port = free_tcp_port()
            floor_cfg = {
                "ami_port": ami_port,
                "ws_port": ws_port,
                "frame_bytes": frame_bytes,
                "ready_file": str(work / "floor-ready"),
                "stop_file": str(work / "stop"),
            }
            procs.append(_spawn("sip_tests.bench.floor", floor_cfg, work / "floor.json"))
            _wait_file(work / "floor-ready", 30, procs)
            return None, procs[-1].pid, f"ws://127.0.0.1:{ws_port}/ws", "http://127.0.0.1"
        env = self.reports.daemon_env() if self.reports is not None else {}
        if self.holds:
            env = {**env, **holds_env(work / "holds")}
        daemon = SiteDaemon(self.site, ami_port, extra_env=env)
        daemon.start()
        deadline = time.monotonic() + 30
        while not daemon.healthy() and time.monotonic() < deadline:
            time.sleep(0.2)
        return daemon, daemon.pid, f"ws://127.0.0.1:{daemon.port}/ws", daemon.origin

    def run(self, frame_bytes: int) -> dict[str, Any]:
        work = self.work
        replayer_cfg = {
            "port": 0,
            "port_file": str(work / "ami-port"),
            "go_file": str(work / "go"),
            "stop_file": str(work / "stop"),
            "done_file": str(work / "done"),
            "trigger_log": str(work / "triggers.jsonl"),
            "agents": self.site.agents,
            "contacts": self.site.contacts,
            "phases": [{"rate": p.rate, "calls": p.calls} for p in self.phases],
            "pause_s": 2.0,
            "lifetime_s": 900,
        }
        procs = [_spawn("sip_tests.bench.replayer", replayer_cfg, work / "replayer.json")]
        daemon: SiteDaemon | None = None
        samples: _Samples = []
        scrapes: list[Scrape] = []  # the daemon's /metrics, about once a second
        try:
            ami_port = int(_wait_file(work / "ami-port", 30, procs))
            daemon, pid, url, origin = self._server(procs, ami_port, frame_bytes)
            clients = self.clients(url, origin)
            procs += clients
            roles: dict[str, tuple[int, int | None]] = {
                "server": (pid, None),
                "server-kernel": (pid, None),
                "loop": (pid, pid),  # the main thread runs the event loop
                "replayer": (procs[0].pid, None),
                **{f"client-{n}": (proc.pid, None) for n, proc in enumerate(clients)},
            }
            if self.readers:
                procs.append(self.reader(origin))
                roles["reader"] = (procs[-1].pid, None)
            time.sleep(1.0)
            (work / "go").write_text("go")
            done = work / "done"
            budget = sum(p.calls / p.rate for p in self.phases) + 120
            deadline = time.monotonic() + budget

            def take_metrics(now: float) -> None:
                got = None if daemon is None else scrape(daemon.origin, now)
                if got is not None:
                    scrapes.append(got)

            next_scrape = 0.0
            while not done.exists() and time.monotonic() < deadline:
                now = time.monotonic()
                samples.append((now, _sample(roles)))
                if now >= next_scrape:
                    next_scrape = now + 1.0
                    take_metrics(now)
                time.sleep(0.2)
            take_metrics(time.monotonic())  # after the last phase ended
            time.sleep(2.0)  # the last pops land
            window_end = self.window_end = time.monotonic()
            time.sleep(self.late_s)  # pops read from now on are late, not lost
            summary = json.loads(_wait_file(done, 5))
        finally:
            (work / "stop").write_text("stop")
            if daemon is not None:
                daemon.stop()
            _stop_all(procs)
        pops = self.latencies(window_end)
        return {
            "phases": summary,
            "cpu": samples,
            "metrics": scrapes,
            "latency": pops.latency,
            "late": pops.late,
            "missing": pops.missing,
            "pop_chars": pops.sizes,
            "pending": pops.pending,
            "frames": self.frame_counts(),
            "reads": self.reads(summary, samples) if self.readers else None,
            "holds": read_holds(work / "holds", daemon.pid) if self.holds and daemon else None,
        }

    def reads(self, summary: list[dict[str, Any]], samples: _Samples) -> dict[str, Any]:
        """The reports read in each phase, and the share of a core the reader process used."""
        figures = read_figures(self.work / "reads.jsonl", summary)
        for number, phase in enumerate(summary):
            start, end = phase["start"], phase["end"]
            used = _cpu_between(samples, "reader", start, end)
            share = math.nan if used is None else 100 * used / max(end - start, 1e-9)
            figures[str(number)]["reader_cpu_pct"] = share
        return figures

    def reader(self, base_url: str) -> subprocess.Popen[bytes]:
        """Start the report readers; they read from ``go`` until the replay is done."""
        assert self.reports is not None
        work = self.work
        stops = (work / "done", work / "stop")
        cfg = self.reports.reader_config(base_url, work, self.readers, stops)
        proc = _spawn("sip_tests.bench.report_reader", cfg, work / "reader.json")
        _wait_file(work / "reader-ready", 30, [proc])
        return proc

    def latencies(
        self, window_end: float = float("inf"), agents: Callable[[int], bool] | None = None
    ) -> PopRecords:
        """Match each (call, agent)'s first pop with the event that rang that agent (of the
        ``agents`` that pass the filter, if given; their rings only count as missing then)."""
        triggers: dict[tuple[str, str], tuple[float, int]] = {}
        with (self.work / "triggers.jsonl").open() as lines:
            for line in lines:
                at, linked, endpoint, phase = json.loads(line)
                triggers.setdefault((linked, endpoint), (at, phase))
        first: dict[tuple[str, int], tuple[float, int, bool]] = {}
        for path in sorted(self.work.glob("pops-*.jsonl")):
            for line in path.read_text().splitlines():
                at, agent, call_id, chars, early = json.loads(line)
                first.setdefault((call_id, agent), (at, chars, early))
        records = PopRecords({}, [], {}, {}, {})
        popped: set[tuple[str, str]] = set()
        for (call_id, agent), (at, chars, early) in first.items():
            if agents is not None and not agents(agent):
                continue
            records.sizes.append(chars)
            key = (call_id.split(":", 1)[1], phone_of(agent))
            found = triggers.get(key)
            if found is None:
                continue
            popped.add(key)
            rang, phase = found
            if at > window_end:
                records.late.setdefault(phase, []).append(at - rang)
                continue
            records.latency.setdefault(phase, []).append(at - rang)
            records.pending[phase] = records.pending.get(phase, 0) + bool(early)
        for key, (_, phase) in sorted(triggers.items()):
            index = agent_of(key[1])
            if agents is not None and (index is None or not agents(index)):
                continue
            if key not in popped:
                records.missing.setdefault(phase, []).append(key)
        return records

    def frame_counts(self) -> dict[str, list[int]]:
        """Frames and characters the clients received, by message type, over the whole run."""
        total: dict[str, list[int]] = {}
        for path in self.work.glob("pops-*.jsonl.types"):
            for kind, (frames, chars) in json.loads(path.read_text()).items():
                counts = total.setdefault(kind, [0, 0])
                counts[0] += frames
                counts[1] += chars
        return total


def _cpu_between(samples: _Samples, role: str, start: float, end: float) -> float | None:
    """CPU seconds ``role`` used between two monotonic times (from the 0.2 s samples)."""
    inside = [cpu[role] for at, cpu in samples if start <= at <= end + 0.2 and role in cpu]
    before = [cpu[role] for at, cpu in samples if at <= start and role in cpu]
    if not inside:
        return None
    return inside[-1] - (before[-1] if before else inside[0])


def _busiest_client(samples: _Samples, start: float, end: float) -> float | None:
    """The largest share of one core any client process used during a phase (0..1)."""
    roles = {role for _, cpu in samples for role in cpu if role.startswith("client-")}
    used = [_cpu_between(samples, role, start, end) for role in roles]
    known = [u for u in used if u is not None]
    return max(known) / max(end - start, 1e-9) if known else None


def run_pop(
    *,
    quick: bool,
    agent_counts: Sequence[int] | None = None,
    workdir: Path | None = None,
    report_readers: int = 0,
    report_worker: str | None = None,
    holds: bool = False,
) -> Report:
    """Run every agent count at every rate, product then floor; return the report.

    ``holds``: also time every callback the daemon's event loop runs (sip_tests.bench.holds)
    and print the kinds that held it longest.

    With ``report_readers`` (loops), the product runs twice on a store that holds report
    buckets, without readers and then with them, before the floor; ``report_worker`` sets
    where the daemon answers them (``[reports] worker``; None: its default).
    """
    report = Report("pop", quick)
    report.details["load_before"] = os.getloadavg()
    counts = agent_counts or ((100,) if quick else (100, 1000))
    seconds = 2.0 if quick else 8.0
    rates = (10.0, 100.0, 200.0) if quick else (10.0, 50.0, 100.0, 200.0)
    phases = [_Phase(rate, max(5, int(rate * seconds))) for rate in rates]
    with tempfile.TemporaryDirectory(prefix="cti-bench-pop-", dir=workdir) as tmp:
        for agents in counts:
            root = Path(tmp)
            site = seed_site(root / f"site-{agents}", agents=agents, contacts=5_000)
            load = None
            if report_readers:
                plan = QUICK_PLAN if quick else FULL_PLAN
                load, seeded = report_load(site, plan, report_worker)
                report.details[f"{agents} report buckets"] = seeded
                report.details["report worker"] = report_worker or "default"
            product = _Run(
                root / f"product-{agents}", site, phases, floor=False, reports=load, holds=holds
            )
            plain = product.run(6000)
            if plain["holds"] is not None:
                add_hold_rows(report, f"{agents} agents", plain["holds"])
            reading = None
            if load is not None:
                work = root / f"reading-{agents}"
                reading = _Run(
                    work, site, phases, floor=False, reports=load, readers=report_readers
                ).run(6000)
            sizes = plain["pop_chars"]
            frame = int(statistics.median(sizes)) if sizes else 6000
            floor = _Run(root / f"floor-{agents}", site, phases, floor=True).run(frame)
            report.add(f"{agents} agents pop frame (median)", frame, "chars")
            _report(report, agents, phases, (plain, reading), floor)
    return report


def _report(
    report: Report,
    agents: int,
    phases: Sequence[_Phase],
    products: tuple[dict[str, Any], dict[str, Any] | None],
    floor: dict[str, Any],
) -> None:
    """Every phase's rows; with a pass that read reports (``products[1]``), its rows beside."""
    product, reading = products
    report.details[f"{agents} frames by type"] = {
        "product": product["frames"],
        "floor": floor["frames"],
        **({"reading": reading["frames"]} if reading is not None else {}),
    }
    counts = product["frames"]
    pops = counts.get("pop", [0, 0])[0]
    if pops:  # every frame the tabs got (hello and snapshot aside) per pop shown
        calls = sum(n for kind, (n, _) in counts.items() if kind not in {"hello", "snapshot"})
        report.add(f"{agents} agents frames per pop", calls / pops, "frames")
    for number, phase in enumerate(phases):
        ours = summary_ms(product["latency"].get(number, []))
        base = summary_ms(floor["latency"].get(number, []))
        label = f"{agents} agents {phase.rate:g}/s"
        replay, replay_floor = product["phases"][number], floor["phases"][number]
        details = {
            "product": ours,
            "floor": base,
            "replayer": replay,
            "replayer_floor": replay_floor,
        }
        read = None
        if reading is not None:
            read = summary_ms(reading["latency"].get(number, []))
            details |= {
                "reading": read,
                "replayer_reading": reading["phases"][number],
                "reports": reading["reads"][str(number)],
            }
        report.details[f"{agents}@{phase.rate:g}"] = details
        _latency_rows(report, (agents, label), phase, (ours, read), base)
        if ours["n"]:
            early = product["pending"].get(number, 0)
            report.add(f"{label} pops sent before the CRM answered", 100 * early / ours["n"], "%")
        _report_cpu(report, label, phase, (product, floor, reading), number)
        if reading is not None:
            add_read_rows(report, label, reading["reads"], number)
    if reading is not None:
        failed = reading["reads"]["failed"]
        report.add(f"{agents} agents report requests failed", failed, "", target="0", ok=not failed)


def _latency_rows(
    report: Report,
    names: tuple[int, str],
    phase: _Phase,
    summaries: tuple[dict[str, float], dict[str, float] | None],
    base: dict[str, float],
) -> None:
    """p50, p99 and max of the product against the floor's; each while reports were read
    right after it, when they were."""
    agents, label = names
    ours, read = summaries
    main = agents >= 1000 and phase.rate == 100
    tail = phase.rate >= 100  # issue 20: p99 within 3x the floor at 100 and 200 calls/s
    top = phase.rate == 200
    targets: dict[str, tuple[str, bool | None]] = {
        "p50": ("<= 1.5x floor", ours["p50_ms"] <= 1.5 * base["p50_ms"]) if main else ("", None),
        "p99": ("<= 3x floor", ours["p99_ms"] <= 3 * base["p99_ms"]) if tail else ("", None),
        "max": ("< 10 ms", ours["max_ms"] < 10) if top else ("", None),
    }
    for stat, (target, ok) in targets.items():
        key = f"{stat}_ms"
        report.add(f"{label} {stat}", ours[key], "ms", floor=base[key], target=target, ok=ok)
        if read is not None:
            report.add(f"{label} {stat} {_READING}", read[key], "ms", floor=base[key])


def _report_daemon_view(
    report: Report, label: str, scrapes: list[Scrape], replay: dict[str, Any]
) -> None:
    """Where the daemon says the time went in this phase (bucket bounds from /metrics)."""
    for name, what in HISTOGRAMS.items():
        for q in (0.5, 0.99):
            found = phase_quantile(scrapes, name, replay["start"], replay["end"], q)
            if found is not None:
                bound, seen = found
                report.add(f"{label} {what} p{round(q * 100)} (<=, of {seen})", bound * 1e3, "ms")


def _daemon_cpu(run: dict[str, Any], number: int) -> tuple[float, float, float, float] | None:
    """The daemon's CPU per event (us), its event loop's, how busy that loop was (%), and the
    kernel's part of the daemon's CPU per event (us). For the floor, the relay's."""
    replay = run["phases"][number]
    start, end, events = replay["start"], replay["end"], replay["events"]
    cpu = _cpu_between(run["cpu"], "server", start, end)
    loop = _cpu_between(run["cpu"], "loop", start, end)
    kernel = _cpu_between(run["cpu"], "server-kernel", start, end)
    if cpu is None or loop is None or not events:
        return None
    busy = 100 * loop / max(end - start, 1e-9)
    return cpu / events * 1e6, loop / events * 1e6, busy, (kernel or 0.0) / events * 1e6


def _report_cpu(
    report: Report,
    label: str,
    phase: _Phase,
    runs: tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None],
    number: int,
) -> None:
    """The daemon's CPU per event (and while reports were read) against the floor relay's for
    the same events, and how busy the clients were (their stamps lag if busy)."""
    product, floor, reading = runs
    daemon = _daemon_cpu(product, number)
    relay = _daemon_cpu(floor, number)
    if daemon is not None:
        us, loop_us, busy, kernel_us = daemon
        at_100 = phase.rate == 100
        report.add(
            f"{label} daemon CPU per event",
            us,
            "us",
            floor=None if relay is None else relay[0],
            target=f"<= {CPU_PER_EVENT_TARGET_US} us" if at_100 else "",
            ok=us <= CPU_PER_EVENT_TARGET_US if at_100 else None,
        )
        report.add(
            f"{label} daemon CPU per event in the kernel",
            kernel_us,
            "us",
            floor=None if relay is None else relay[3],
        )
        read = None if reading is None else _daemon_cpu(reading, number)
        if read is not None:
            report.add(f"{label} daemon CPU per event {_READING}", read[0], "us")
        report.add(f"{label} event loop CPU per event", loop_us, "us")
        report.add(f"{label} event loop busy", busy, "%")
        if read is not None:
            report.add(f"{label} event loop busy {_READING}", read[2], "%")
    replay = product["phases"][number]
    _report_daemon_view(report, label, product.get("metrics") or [], replay)
    ours = _busiest_client(product["cpu"], replay["start"], replay["end"])
    replay_floor = floor["phases"][number]
    base = _busiest_client(floor["cpu"], replay_floor["start"], replay_floor["end"])
    if ours is not None:
        report.add(
            f"{label} busiest client process",
            100 * ours,
            "% CPU",
            floor=None if base is None else 100 * base,
        )
