"""Drill 7 (issue 21): three nodes on the lab; the AMI owner killed (-9), then the broker
restarted, during a bounded number of lab calls.

Agents are spread over the nodes (agent ``i`` on node ``i % 3``), each with a tab
(:class:`StreamTab`, which checks every seq) and a SIPp phone that answers. SIPp places
``calls`` trunk calls straight to the agents' DIDs, each held ``hold_s``. Early in the run the
node owning the AMI session is killed with SIGKILL: the tabs it served reconnect to the next
live node with their ``last_seq`` and epoch, as the desktop does behind a load balancer.
Later the broker (``redis-server``) is stopped and started again.

What is compared: Asterisk's CDR against the CRM's records (each call exactly once, none
lost); how long until another node was logged in on AMI; every pop against the phone the CDR
says the call rang (an agent's tab shows its own calls only); no gap or repeat in any tab's
seq; pops still arriving on every tab after the kill. The take-over itself: the calls whose
pops were open on the tabs for a second before the kill must be restored by the new owner from
the store (their records carry ``restored``, never ``adopted``), and no tab may get a second
``pop`` for a call it shows (the new owner sends ``pop_update``).

A call that both starts and ends while no node owns AMI is invisible to the cluster (no event,
no channel left to resync): ``hold_s`` is longer than the take-over, as real calls are. The
kill comes once 30 % of the calls have popped, the broker restart once 70 % have.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sip_tests.agent_phones import sipp_agents
from sip_tests.bench.results import Report
from sip_tests.cdr import CdrRow, calls_from
from sip_tests.drill.cluster_lab import AGENT_LOGINS, ClusterLab, Node, cluster_lab
from sip_tests.drill.lab_run import Comparison, compare, wait_records
from sip_tests.drill.stream_client import StreamTab
from sip_tests.lab import direct_did
from sip_tests.sipp import SippProcess, cleanup_workdirs, inbound_load

__all__ = ["ClusterFailoverResult", "run_cluster_failover"]

TRUNK_CHANNEL = "PJSIP/lab-trunk-"
CALLERS = [("+442079460001", "Alice Archer"), ("+442079469903", "")]


@dataclass(slots=True)
class TabView:
    """What one agent's tab saw, for the report."""

    agent: str
    extension: str
    first_node: str
    last_node: str
    popped: list[str]  # call ids of its `pop` frames, in order
    repeated: list[str]  # calls it got more than one `pop` frame for
    pops_after_kill: int
    gaps: list[tuple[int, int]]
    duplicates: list[int]
    resume_modes: list[str]


@dataclass(slots=True)
class ClusterFailoverResult:
    calls: int  # placed by SIPp
    cdr_calls: int  # calls in Asterisk's CDR
    comparison: Comparison
    popped_at_kill: int  # pops the tabs had got when the owner was killed
    killed: str
    takeover_s: float  # kill -> another node logged in on AMI
    new_owner: str
    broker_down_s: float
    broker_back_s: float  # broker started -> every live node says broker ok
    tabs: list[TabView]
    foreign_pops: list[str]  # "agent: call" for a pop of a call that rang another phone
    unpopped: list[str]  # calls whose agent's tab never got a pop
    up_at_kill: list[str]  # calls whose pops were open on the tabs from 1 s before the kill
    not_restored: list[str]  # "call: flags" of those whose record says other than `restored`
    seconds: float
    logs: dict[str, str] = field(default_factory=dict)
    carriers: dict[str, str] = field(default_factory=dict)  # extension -> how its SIPp ended

    @property
    def ok(self) -> bool:
        c = self.comparison
        return (
            not c.lost
            and not c.duplicated
            and self.takeover_s <= 5.0
            and not self.foreign_pops
            and all(not t.gaps and not t.duplicates for t in self.tabs)
            and all(t.pops_after_kill > 0 for t in self.tabs)
            and not self.not_restored
            and not any(t.repeated for t in self.tabs)
        )

    def report(self, quick: bool) -> Report:
        report = Report("drill-cluster-failover", quick)
        c = self.comparison
        report.add("calls placed (SIPp)", self.calls, "calls")
        report.add(
            "calls in the CDR",
            self.cdr_calls,
            "calls",
            target=str(self.calls),
            ok=self.cdr_calls == self.calls,
        )
        report.add("calls without a record", len(c.lost), "calls", target="0", ok=not c.lost)
        report.add(
            "records of no call / twice",
            len(c.duplicated),
            "records",
            target="0",
            ok=not c.duplicated,
        )
        report.add("pops before the kill", self.popped_at_kill, "pops")
        report.add(
            "AMI owned again after kill -9",
            self.takeover_s,
            "s",
            target="<= 5 s",
            ok=self.takeover_s <= 5.0,
        )
        report.add("broker down", self.broker_down_s, "s")
        report.add("nodes back on the broker", self.broker_back_s, "s")
        report.add(
            "pops of another agent's call",
            len(self.foreign_pops),
            "pops",
            target="0",
            ok=not self.foreign_pops,
        )
        gaps = sum(len(t.gaps) + len(t.duplicates) for t in self.tabs)
        report.add("seq gaps or repeats in tabs", gaps, "", target="0", ok=gaps == 0)
        quiet = [t.agent for t in self.tabs if not t.pops_after_kill]
        report.add("tabs without pops after the kill", len(quiet), "tabs", target="0", ok=not quiet)
        report.add("calls not popped", len(self.unpopped), "calls")
        report.add("calls up at the kill", len(self.up_at_kill), "calls")
        report.add(
            "of those, not restored from the store",
            len(self.not_restored),
            "calls",
            target="0",
            ok=not self.not_restored,
        )
        repeated = sum(len(t.repeated) for t in self.tabs)
        report.add("second pops of a call on screen", repeated, "pops", target="0", ok=not repeated)
        report.details = {
            "killed": self.killed,
            "new_owner": self.new_owner,
            "lost": c.lost,
            "duplicated": c.duplicated,
            "outcome_differs": c.outcome_differs,
            "flags": c.flags,
            "foreign_pops": self.foreign_pops,
            "unpopped": self.unpopped,
            "not_restored": self.not_restored,
            "tabs": {
                t.agent: f"{t.first_node}->{t.last_node} pops={len(t.popped)} "
                f"after_kill={t.pops_after_kill} resumes={t.resume_modes}"
                for t in self.tabs
            },
            "seconds": self.seconds,
        }
        if self.cdr_calls != self.calls:
            report.details["carriers"] = self.carriers
        return report


@dataclass(slots=True)
class _Agent:
    name: str
    extension: str
    node: Node
    tab: StreamTab
    first_node: str = ""
    pops_at_kill: int = 0
    open_at_kill: frozenset[str] = frozenset()  # calls whose pop was open 1 s before and at it


async def _open_tabs(run: ClusterLab, agents: Sequence[str]) -> list[_Agent]:
    opened = []
    for i, name in enumerate(agents):
        extension, password = AGENT_LOGINS[name]
        node = run.nodes[i % len(run.nodes)]
        cookie = await run.login(node, name, password)
        tab = StreamTab(node.ws_url, node.origin, cookie, name=name)
        opened.append(_Agent(name, extension, node, tab, first_node=node.name))
    return opened


async def _until(check: object, timeout_s: float, what: str) -> float:
    """Poll the async ``check`` until true; the seconds it took. Raise after ``timeout_s``."""
    began = time.monotonic()
    while not await check():  # type: ignore[operator]
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def _start_calls(
    run: ClusterLab, extensions: Sequence[str], calls: int, rate: float, hold_s: float
) -> dict[str, SippProcess]:
    """One SIPp per agent's DID, placing that agent's share of the calls."""
    share = [
        calls // len(extensions) + (i < calls % len(extensions)) for i in range(len(extensions))
    ]
    return {
        ext: inbound_load(
            run.lab.sip,
            direct_did(ext),
            CALLERS,
            rate_per_s=rate / len(extensions),
            count=count,
            hold_s=hold_s,
            answer_timeout_s=20,
        )
        for ext, count in zip(extensions, share, strict=True)
        if count
    }


async def _kill_owner(run: ClusterLab, agents: Sequence[_Agent]) -> tuple[Node, Node, float]:
    """Kill the AMI owner; move its tabs on; return it, the new owner and the take-over time."""
    owner = await run.owner()
    assert owner is not None, "no node owns AMI"
    # A pop open for a second was saved by the owner (every 0.5 s): the new owner must restore it.
    before = {agent.name: set(agent.tab.pops) for agent in agents}
    await asyncio.sleep(1.0)
    for agent in agents:
        agent.pops_at_kill = sum(agent.tab.pop_messages.values())
        agent.open_at_kill = frozenset(before[agent.name] & set(agent.tab.pops))
    run.kill(owner)
    killed_at = time.monotonic()
    survivors = run.live()
    for i, agent in enumerate(a for a in agents if a.node is owner):
        agent.node = survivors[i % len(survivors)]
        agent.tab.url, agent.tab.origin = agent.node.ws_url, agent.node.origin
    new_owner: list[Node] = []

    async def taken() -> bool:
        found = await run.owner()
        if found is not None:
            new_owner.append(found)
        return found is not None

    await _until(taken, 30, "another node owning AMI")
    return owner, new_owner[0], time.monotonic() - killed_at


async def _restart_broker(run: ClusterLab, down_s: float) -> float:
    """Stop the broker, keep it down ``down_s``, start it; seconds until every node says ok."""
    await asyncio.to_thread(run.redis.stop)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(run.redis.start)

    async def every_node_back() -> bool:
        bodies = [await node.health() for node in run.live()]
        return all(b.get("cluster", {}).get("broker") == "ok" for b in bodies)

    return await _until(every_node_back, 60, "nodes back on the broker")


def _rang(cdr: Mapping[str, Sequence[CdrRow]]) -> dict[str, str]:
    """Each call (``lab:<linkedid>``) -> the extension its DID rang (PJSIP/10XX-...)."""
    rang = {}
    for linkedid, rows in cdr.items():
        for row in rows:
            if row.dstchannel.startswith("PJSIP/10"):
                rang[f"lab:{linkedid}"] = row.dstchannel[6:10]
    return rang


def _views(
    agents: Sequence[_Agent], rang: Mapping[str, str]
) -> tuple[list[TabView], list[str], list[str]]:
    """Each tab's view, the pops of calls that rang another phone, the calls never popped."""
    views, foreign = [], []
    popped_calls = set()
    for a in agents:
        popped = [call for _, kind, call in a.tab.applied if kind == "pop"]
        popped_calls.update(popped)
        foreign += [f"{a.name}: {c}" for c in popped if rang.get(c, a.extension) != a.extension]
        views.append(
            TabView(
                a.name,
                a.extension,
                a.first_node,
                a.node.name,
                popped,
                sorted(call for call, count in a.tab.pop_messages.items() if count > 1),
                sum(a.tab.pop_messages.values()) - a.pops_at_kill,
                list(a.tab.gaps),
                list(a.tab.duplicates),
                [h.mode for h in a.tab.hellos],
            )
        )
    unpopped = sorted(call for call in rang if call not in popped_calls)
    return views, foreign, unpopped


async def run_cluster_failover(
    offset: int,
    workdir: Path,
    store_url: str,
    *,
    calls: int = 50,
    agents: int = 10,
    rate_per_s: float = 2.0,
    hold_s: float = 8.0,
    broker_down_s: float = 1.0,
) -> ClusterFailoverResult:
    """Run the drill on lab instance ``offset`` with the PostgreSQL database ``store_url``."""
    started = time.monotonic()
    names = list(AGENT_LOGINS)[:agents]
    span = calls / rate_per_s  # seconds SIPp places calls for
    async with cluster_lab(offset, workdir, store_url) as run, contextlib.AsyncExitStack() as stack:
        extensions = [AGENT_LOGINS[n][0] for n in names]
        stack.enter_context(sipp_agents(run.lab, extensions, answer_delay_s=0.3))
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        spread = await _open_tabs(run, names)
        for agent in spread:
            tasks.create_task(agent.tab.run())
            stack.push_async_callback(agent.tab.stop)
        await _until(_all_greeted(spread), 20, "every tab's hello")
        carriers = await asyncio.to_thread(_start_calls, run, extensions, calls, rate_per_s, hold_s)
        stack.callback(cleanup_workdirs, carriers.values())
        for carrier in carriers.values():
            stack.callback(carrier.stop)
        await _until(_popped(spread, calls * 0.3), span + 30, "the first pops")
        popped_at_kill = _pop_count(spread)
        killed, owner, takeover = await _kill_owner(run, spread)
        await _until(_popped(spread, calls * 0.7), span + 60, "pops after the kill")
        broker_back = await _restart_broker(run, broker_down_s)
        for carrier in carriers.values():
            await asyncio.to_thread(carrier.wait, span + hold_s + 90)
        # Read before the stack removes the carriers' workdirs.
        ended = {ext: carrier.describe() for ext, carrier in carriers.items()}
        await asyncio.to_thread(run.lab.wait_idle, 30)
        cdr = calls_from(run.cdr.rows(run.cdr_mark), TRUNK_CHANNEL)
        expected = {f"lab:{linkedid}" for linkedid in cdr}
        records = await wait_records(store_url, expected, timeout_s=90)
        flags = {record.call_id: record.flags for record in records}
        up_at_kill = sorted(set().union(*(a.open_at_kill for a in spread)))
        not_restored = [
            f"{call}: {','.join(flags.get(call, ('no record',)))}"
            for call in up_at_kill
            if "restored" not in flags.get(call, ()) or "adopted" in flags.get(call, ())
        ]
        await asyncio.sleep(1.0)  # the last call_state frames
        rang = _rang(cdr)
        views, foreign, unpopped = _views(spread, rang)
        logs = {n.name: n.process.log_tail(30) for n in run.nodes}
    return ClusterFailoverResult(
        calls=calls,
        cdr_calls=len(cdr),
        comparison=compare(cdr, records),
        popped_at_kill=popped_at_kill,
        killed=killed.name,
        takeover_s=round(takeover, 2),
        new_owner=owner.name,
        broker_down_s=broker_down_s,
        broker_back_s=round(broker_back, 2),
        tabs=views,
        foreign_pops=foreign,
        unpopped=unpopped,
        up_at_kill=up_at_kill,
        not_restored=not_restored,
        seconds=round(time.monotonic() - started, 1),
        logs=logs,
        carriers=ended,
    )


def _pop_count(agents: Sequence[_Agent]) -> int:
    return sum(sum(a.tab.pop_messages.values()) for a in agents)


def _popped(agents: Sequence[_Agent], at_least: float) -> object:
    async def check() -> bool:
        return _pop_count(agents) >= at_least

    return check


def _all_greeted(agents: Sequence[_Agent]) -> object:
    async def check() -> bool:
        return all(a.tab.hellos for a in agents)

    return check
