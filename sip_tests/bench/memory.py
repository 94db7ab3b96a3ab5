"""Memory per connected agent: the daemon's resident memory with 1,000 and 5,000 agents online.

The real daemon runs on a seeded site; agent clients in other processes (500 per process, each
connection offering permessage-deflate as browsers do, then ``resume``) connect; the figure is
the growth of the daemon's VmRSS from before the first connection to after the last, divided
by the number of agents. The floor is the same count of connections held by a bare
python-websockets server with the same deflate settings (:mod:`sip_tests.bench.floor`).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from sip_tests.bench.pop import _PER_PROCESS, _spawn, _stop_all, _wait_file
from sip_tests.bench.results import Report
from sip_tests.bench.site import Site, SiteDaemon, seed_site
from sip_tests.daemon import free_tcp_port

__all__ = ["run_memory"]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _connect(
    work: Path, site: Site, url: str, origin: str, *, floor: bool
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for first in range(0, site.agents, _PER_PROCESS):
        indexes = range(first, min(site.agents, first + _PER_PROCESS))
        cfg = {
            "url": url,
            "origin": origin,
            "connections": [[i, None if floor else site.cookie(i)] for i in indexes],
            "ready_file": str(work / f"ready-{first}"),
            "stop_file": str(work / "stop"),
            "out_file": str(work / f"pops-{first}.jsonl"),
            "lifetime_s": 600,
        }
        procs.append(_spawn("sip_tests.bench.wsclient", cfg, work / f"client-{first}.json"))
    for first in range(0, site.agents, _PER_PROCESS):
        _wait_file(work / f"ready-{first}", 300, procs)
    return procs


def _measure(work: Path, site: Site, *, floor: bool) -> float:
    """Return KiB of resident memory per connection."""
    work.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    daemon: SiteDaemon | None = None
    try:
        if floor:
            ws_port = free_tcp_port()
            cfg = {
                "ami_port": 9,  # nothing listens: the floor only holds websockets
                "ws_port": ws_port,
                "ready_file": str(work / "floor-ready"),
                "stop_file": str(work / "stop"),
            }
            server = _spawn("sip_tests.bench.floor", cfg, work / "floor.json")
            procs.append(server)
            _wait_file(work / "floor-ready", 30, procs)
            pid, url, origin = server.pid, f"ws://127.0.0.1:{ws_port}/ws", "http://127.0.0.1"
        else:
            daemon = SiteDaemon(site, ami_port=9)
            daemon.start()
            pid, url, origin = daemon.pid, f"ws://127.0.0.1:{daemon.port}/ws", daemon.origin
        time.sleep(2.0)
        before = _rss_kib(pid)
        procs += _connect(work, site, url, origin, floor=floor)
        time.sleep(3.0)  # hello and snapshot frames flushed, buffers settled
        after = _rss_kib(pid)
    finally:
        (work / "stop").write_text("stop")
        if daemon is not None:
            daemon.stop()
        _stop_all(procs)
    return (after - before) / site.agents


def run_memory(*, quick: bool, agent_counts: tuple[int, ...] | None = None) -> Report:
    """Measure the daemon and the floor at each agent count; return the report."""
    report = Report("memory", quick)
    counts = agent_counts or ((1000,) if quick else (1000, 5000))
    with tempfile.TemporaryDirectory(prefix="cti-bench-mem-") as tmp:
        for agents in counts:
            site = seed_site(Path(tmp) / f"site-{agents}", agents=agents, contacts=100)
            ours = _measure(Path(tmp) / f"product-{agents}", site, floor=False)
            base = _measure(Path(tmp) / f"floor-{agents}", site, floor=True)
            report.add(
                f"{agents:,} agents: memory per agent",
                ours,
                "KiB",
                floor=base,
                target="<= 24 KiB",
                ok=ours <= 24,
            )
    return report
