"""Pop latency across nodes: agents spread over 3 nodes on Redis vs the same agents on one node.

Same machinery as ``cti bench pop`` (:mod:`sip_tests.bench.pop`): the AMI replayer plays
recorded calls (10 calls/s to warm up, then 100 calls/s), the real ``cti serve`` reads it, agent
websocket clients in processes of their own stamp each ``pop``. Two passes in the same run, each
on a fresh PostgreSQL store seeded alike:

- **one node**: no broker (the default ``LocalFanout``), every agent's socket on it;
- **3 nodes**: a private ``redis-server``, three ``cti serve --node-id`` sharing the store, the
  session secret and ``secrets.key``; one owns the AMI session (the lease), agent ``i``'s socket
  is on node ``i % 3``, so two thirds of the pops cross the broker to another node; the pass's
  p50 is also given apart for the agents on the AMI owner (their pops take the broker's round
  trip too, under the same load) and for the agents on the other nodes.

Meanwhile a probe publishes on its own Redis channel 100 times a second (frames the size of the
median pop) and times each message back through its subscription: the broker's own round trip,
under the same load, which the cross-node hop cannot beat. Latency is from the replayer writing
the event that rings an agent's phone to that agent's client reading the pop (CLOCK_MONOTONIC,
shared by every process). A pop read more than 2 s after the replayer's pause (which follows its
last event) is late and counted apart; the clients go on reading for 10 s more, so a ring with
no pop by then is one never sent. Bounded: 300 calls at 100/s with 150 agents (``--quick``),
800 with 600 agents otherwise; ``--per-node 1000`` is the issue's form (1,000 agents on one
node against 3,000 over three). Every process is stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from broker_adapters.redis.server import RedisServer
from cti.private_files import create_private_file, ensure_private_dir
from sip_tests.bench.pop import _PER_PROCESS, _cpu_between, _Phase, _Run, _spawn, _wait_file
from sip_tests.bench.results import Report, summary_ms
from sip_tests.bench.site import Site, SiteDaemon, seed_site
from sip_tests.bench.transcripts import INBOUND_SCRIPTS
from sip_tests.drill.cluster_lab import scratch_database

__all__ = ["run_cluster"]

NODES = ("a", "b", "c")
LATE_S = 10.0  # clients go on reading this long after the window: late pops are not lost ones


class BrokerProbe(threading.Thread):
    """PUBLISH -> message on a channel of its own, ``rate`` times a second, until stopped."""

    def __init__(self, url: str, *, rate: float = 100.0, chars: int = 2000) -> None:
        super().__init__(name="broker-probe", daemon=True)
        self._url, self._rate, self._pad = url, rate, "x" * chars
        self._stop_flag = threading.Event()
        self.seconds: list[float] = []

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(timeout=10)

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        client = aioredis.Redis.from_url(self._url, decode_responses=True)
        channel = f"bench-probe-{secrets.token_hex(4)}"
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        reader = asyncio.create_task(self._read(pubsub))
        try:
            while not self._stop_flag.is_set():
                await client.publish(channel, f"{time.monotonic()!r} {self._pad}")
                await asyncio.sleep(1 / self._rate)
            await asyncio.sleep(0.2)  # the last messages
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await pubsub.aclose()
            await client.aclose()

    async def _read(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None:
                sent = float(message["data"].split(" ", 1)[0])
                self.seconds.append(time.monotonic() - sent)


class _Nodes:
    """The three daemons of the cluster pass, stopped together."""

    def __init__(self, daemons: Sequence[SiteDaemon]) -> None:
        self.daemons = list(daemons)

    def stop(self) -> None:
        for daemon in self.daemons:
            daemon.stop()


class _ClusterRun(_Run):
    """The pop bench's pass with three nodes on a broker, agents spread over them."""

    def __init__(
        self, work: Path, site: Site, phases: Sequence[_Phase], broker: RedisServer
    ) -> None:
        super().__init__(work, site, phases, floor=False, late_s=LATE_S)
        self.broker = broker
        self.nodes: list[SiteDaemon] = []
        self.owner = 0  # the index of the node holding the AMI lease

    def run(self, frame_bytes: int) -> dict[str, Any]:
        """The pass, with its latencies split: agents on the AMI owner, agents elsewhere."""
        out = super().run(frame_bytes)
        spread, owner = len(self.nodes), self.owner
        near = self.latencies(self.window_end, lambda i: i % spread == owner)
        far = self.latencies(self.window_end, lambda i: i % spread != owner)
        out["latency_owner"], out["latency_others"] = near.latency, far.latency
        return out

    def _server(
        self, procs: list[Any], ami_port: int, frame_bytes: int
    ) -> tuple[Any, int, str, str]:
        del procs, frame_bytes
        key = Fernet.generate_key()  # every node seals and opens with the same key
        prefix = f"bench{secrets.token_hex(3)}"
        for name in NODES:
            state = self.work / name / "state"
            ensure_private_dir(state.parent)
            ensure_private_dir(state)
            create_private_file(state / "secrets.key", key)
            daemon = SiteDaemon(
                self.site,
                ami_port,
                extra_env={
                    "CTI_STATE_DIR": str(state),
                    "CTI_CLUSTER__BROKER_URL": self.broker.url,
                    "CTI_CLUSTER__NODE_ID": name,
                    "CTI_CLUSTER__PREFIX": prefix,
                },
            )
            daemon.workdir = self.work / name
            daemon.start()
            self.nodes.append(daemon)
        owner = _wait_owner(self.nodes, 60)
        self.owner = self.nodes.index(owner)
        return _Nodes(self.nodes), owner.pid, "", ""

    def clients(self, url: str, origin: str) -> list[Any]:
        del url, origin
        procs = []
        for n, node in enumerate(self.nodes):
            mine = [i for i in range(self.site.agents) if i % len(self.nodes) == n]
            for first in range(0, len(mine), _PER_PROCESS):
                tag = f"{n}-{first}"
                cfg = {
                    "url": f"ws://127.0.0.1:{node.port}/ws",
                    "origin": node.origin,
                    "connections": [
                        [i, self.site.cookie(i)] for i in mine[first : first + _PER_PROCESS]
                    ],
                    "ready_file": str(self.work / f"ready-{tag}"),
                    "stop_file": str(self.work / "stop"),
                    "out_file": str(self.work / f"pops-{tag}.jsonl"),
                    "lifetime_s": 600,
                }
                procs.append(_spawn("sip_tests.bench.wsclient", cfg, self.work / f"c-{tag}.json"))
        for path in self.work.glob("c-*.json"):
            _wait_file(self.work / f"ready-{path.stem[2:]}", 180, procs)
        return procs


def _wait_owner(nodes: Sequence[SiteDaemon], timeout_s: float) -> SiteDaemon:
    """The node that holds the AMI lease and is logged in on the replayer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for node in nodes:
            try:
                body = httpx.get(f"{node.origin}/healthz", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            if body.get("ami", {}).get("bench"):
                return node
        time.sleep(0.2)
    raise RuntimeError(f"no node logged in on the replayer's AMI within {timeout_s} s")


def run_cluster(*, quick: bool, per_node: int | None = None, workdir: Path | None = None) -> Report:
    """Run the one-node pass and the three-node pass; return the report.

    Each pass runs on a PostgreSQL store of its own, seeded alike. ``per_node``: one node with
    that many agents against 3 nodes with three times as many; None: as many agents in both.
    """
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    report = Report("cluster" if per_node is None else f"cluster-{per_node}-per-node", quick)
    agents = per_node or (150 if quick else 600)
    spread_agents = agents * len(NODES) if per_node else agents
    phases = [_Phase(10.0, 20), _Phase(100.0, 300 if quick else 800)]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cti-bench-cluster-", dir=workdir) as tmp:
        root = Path(tmp)
        with scratch_database() as database:
            site = seed_site(root / "site", agents=agents, contacts=5_000, database=database)
            single = _Run(root / "one", site, phases, floor=False, late_s=LATE_S).run(6000)
        sizes = single["pop_chars"]
        frame = int(statistics.median(sizes)) if sizes else 2000
        with scratch_database() as database:
            site = seed_site(
                root / "site-3", agents=spread_agents, contacts=5_000, database=database
            )
            broker = RedisServer(root / "redis")
            broker.start()
            probe = BrokerProbe(broker.url, rate=100.0, chars=frame)
            try:
                probe.start()
                spread = _ClusterRun(root / "three", site, phases, broker).run(frame)
            finally:
                probe.stop()
                broker.stop()
    _report(report, (agents, spread_agents), phases, (single, spread), probe.seconds)
    report.details["load_avg_before"] = load_before
    report.details["load_avg_after"] = os.getloadavg()
    report.details["pop_frame_chars_median"] = frame
    return report


def _by_script(rings: Sequence[tuple[str, str]]) -> dict[str, int]:
    """How many of ``rings`` (linkedid, endpoint) each recorded call made: the replayer plays
    transcript ``call % 7`` as call number ``call``, linkedid ``1700000000 + call``
    (:func:`sip_tests.bench.stream.timeline`, :meth:`CallScript.play`)."""
    counts: dict[str, int] = {}
    for linkedid, _ in rings:
        call = int(linkedid.split(".", 1)[0]) - 1_700_000_000
        name = INBOUND_SCRIPTS[call % len(INBOUND_SCRIPTS)]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _report(
    report: Report,
    agents: tuple[int, int],
    phases: Sequence[_Phase],
    passes: tuple[dict[str, Any], dict[str, Any]],
    probe: Sequence[float],
) -> None:
    single, spread = passes
    broker = summary_ms(probe)
    report.add("broker round trip (PUBLISH -> message) p50", broker["p50_ms"], "ms")
    report.add("broker round trip p99", broker["p99_ms"], "ms")
    for number, phase in enumerate(phases):
        one = summary_ms(single["latency"].get(number, []))
        three = summary_ms(spread["latency"].get(number, []))
        one_agents, spread_agents = agents
        label = (
            f"{one_agents} agents {phase.rate:g}/s"
            if one_agents == spread_agents
            else f"{one_agents}/node {phase.rate:g}/s"
        )
        main = phase.rate == 100
        report.add(f"{label} one node p50", one["p50_ms"], "ms")
        report.add(
            f"{label} 3 nodes p50",
            three["p50_ms"],
            "ms",
            floor=one["p50_ms"],
            target="hop < 1 ms" if main else "",
            ok=three["p50_ms"] - one["p50_ms"] < 1.0 if main else None,
        )
        report.add(f"{label} one node p99", one["p99_ms"], "ms")
        report.add(f"{label} 3 nodes p99", three["p99_ms"], "ms", floor=one["p99_ms"])
        near = summary_ms(spread["latency_owner"].get(number, []))
        far = summary_ms(spread["latency_others"].get(number, []))
        report.add(f"{label} 3 nodes p50, agents on the AMI owner", near["p50_ms"], "ms")
        report.add(f"{label} 3 nodes p50, agents on other nodes", far["p50_ms"], "ms")
        report.add(f"{label} pops (one node / 3 nodes)", one["n"], f"/ {three['n']:.0f}")
        late = [len(run["late"].get(number, [])) for run in passes]
        report.add(f"{label} pops read late (one node / 3 nodes)", late[0], f"/ {late[1]}")
        missing = [run["missing"].get(number, []) for run in passes]
        report.add(
            f"{label} rings never popped (one node / 3 nodes)",
            len(missing[0]),
            f"/ {len(missing[1])}",
        )
        if main:
            report.add(
                "cross-node hop at p50 (3 nodes - one node)", three["p50_ms"] - one["p50_ms"], "ms"
            )
            replay = single["phases"][number]
            cpu = _cpu_between(single["cpu"], "server", replay["start"], replay["end"])
            if cpu is not None and replay["events"]:
                report.add("one node daemon CPU per event", cpu / replay["events"] * 1e6, "us")
            replay = spread["phases"][number]
            cpu = _cpu_between(spread["cpu"], "server", replay["start"], replay["end"])
            if cpu is not None and replay["events"]:
                report.add("3 nodes: AMI owner CPU per event", cpu / replay["events"] * 1e6, "us")
        report.details[f"{one_agents}/{spread_agents}@{phase.rate:g}"] = {
            "one_node": one,
            "three_nodes": three,
            "three_nodes_agents_on_owner": near,
            "three_nodes_agents_elsewhere": far,
            "replayer_one": single["phases"][number],
            "replayer_three": spread["phases"][number],
            "late_ms": [sorted(1000 * t for t in run["late"].get(number, [])) for run in passes],
            "never_popped": [m[:20] for m in missing],
            "never_popped_by_call": [_by_script(m) for m in missing],
        }
    report.details["broker_probe"] = broker
