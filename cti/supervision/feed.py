"""The supervisor console's live feed: groups' states pushed to their owners as they change.

:class:`LiveFeed` keeps the groups and agents' names (reloaded from the store every few
seconds) and sends each online owner of a group a ``group_state`` live message whenever what
the group's view shows changed (and every ``heartbeat_s``), and ``template_failed`` the moment
a pop of the group fell back to the default template (also written to the audit log, once a
minute per group). It reaches browsers only through :class:`SupervisorNotifier`, which the web
edge implements with live messages (not numbered nor replayed, so the agent desktop a supervisor
may also have open keeps its ``seq`` and ignores them). Each owner also gets the group's
``wallboard`` (:mod:`cti.supervision.wallboard`: waiting callers, today's service level, agents
by state, the alerts its thresholds raise) when it changed, to the second; today's queue
figures and the thresholds are reloaded with the groups. :class:`PopCounter` wraps the pop
service's notifier to count pops per group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from cti.pop.service import AgentNotifier
from cti.store import Store
from cti.store.values import GroupInfo, Role
from cti.supervision.live import GroupMonitor
from cti.supervision.thresholds import load_thresholds, thresholds_json
from cti.supervision.wallboard import Thresholds, wallboard

__all__ = ["LiveFeed", "PopCounter", "QueuesToday", "SupervisorNotifier"]

log = logging.getLogger(__name__)


class SupervisorNotifier(Protocol):
    """How the supervision service reaches supervisors' browsers (the web edge implements it)."""

    def is_online(self, user: str) -> bool: ...
    def group_state(self, supervisor: str, state: Mapping[str, object]) -> None: ...
    def template_failed(
        self, supervisor: str, group: str, error: str, call_id: str, at: float
    ) -> None: ...
    def wallboard(self, supervisor: str, board: Mapping[str, object]) -> None: ...


QueuesToday = Callable[[Sequence[str]], Mapping[str, Mapping[str, float]]]


class LiveFeed:
    """The ticker that keeps supervisors' live views current."""

    def __init__(
        self,
        *,
        store: Store,
        notifier: SupervisorNotifier,
        monitor: GroupMonitor,
        tick_s: float = 0.5,
        heartbeat_s: float = 10.0,
        groups_every_s: float = 5.0,
        today: QueuesToday | None = None,
    ) -> None:
        """``today(queues)``: today's report figures of those queues (a blocking store read)."""
        self.store, self.notifier, self.monitor = store, notifier, monitor
        self._today_of = today
        self.today: Mapping[str, Mapping[str, float]] = {}
        self.thresholds: dict[str, Thresholds] = {}
        self._threshold_writes = 0  # set_thresholds calls: a reload read before one is not kept
        self._boards: dict[tuple[str, str], tuple[Any, float]] = {}  # as _sent, for wallboards
        self._tick_s, self._heartbeat_s, self._groups_every_s = tick_s, heartbeat_s, groups_every_s
        self._groups: dict[str, GroupInfo] = {}
        self.names: dict[str, str] = {}
        self._owners_by_role: set[str] = set()  # active supervisors and admins
        self._sent: dict[tuple[str, str], tuple[Any, float]] = {}  # (owner, group) -> (state, at)
        self._failure_logged: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None

    def snapshot(self, group: GroupInfo) -> dict[str, object]:
        return self.monitor.snapshot(group, self.names)

    def board(self, group: GroupInfo, snapshot: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The wallboard of ``group`` now, with its thresholds and the server's time."""
        state: Mapping[str, Any] = snapshot if snapshot is not None else self.snapshot(group)
        limits = self.thresholds.get(group.name, Thresholds())
        now = float(state["server_time"])
        board = wallboard(state, group.spec.queues, self.today, limits, now)
        return {**board, "thresholds": thresholds_json(limits), "server_time": now}

    def pop_sent(self, data: Mapping[str, object]) -> None:
        group = data.get("group")
        if isinstance(group, str):
            self.monitor.pop_sent(group)

    def template_failed(self, group: str, error: str, call_id: str) -> None:
        """A pop fell back to the default template: tell the group's online owners now."""
        failure = self.monitor.template_failed(group, error, call_id)
        info = self._groups.get(group)
        for owner in self._online_owners(info) if info else ():
            self.notifier.template_failed(owner, group, failure.error, call_id, failure.at)
        last = self._failure_logged.get(group, 0.0)
        if failure.at - last >= 60:  # the audit log gets one line a minute per group
            self._failure_logged[group] = failure.at
            self._spawn(
                self.store.aio.run(
                    self.store.record_event,
                    "supervisor.template.failed",
                    {"group": group, "error": failure.error, "call_id": call_id},
                ),
                f"log template failure {group}",
            )

    async def start(self) -> None:
        await self.refresh()
        self._ticker = asyncio.create_task(self._tick_forever(), name="supervisor live view")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def refresh(self) -> None:
        """Reload groups and agents' names from the store (after a change, and every few s)."""
        groups = await self.store.aio.run(self.store.groups)
        agents = await self.store.aio.run(self.store.agents)
        self._groups = {g.name: g for g in groups}
        self.names = {a.username: a.name for a in agents}
        self._owners_by_role = {
            a.username for a in agents if a.active and a.role in (Role.SUPERVISOR, Role.ADMIN)
        }
        written = self._threshold_writes
        thresholds = await self.store.aio.run(self._read_thresholds)
        if written == self._threshold_writes:  # else a save here raced it: the next reload
            self.thresholds = thresholds
        if self._today_of is not None:
            queues = sorted({q for g in groups for q in g.spec.queues})
            self.today = await self.store.aio.run(self._today_of, queues)

    def set_thresholds(self, group: str, thresholds: Thresholds) -> None:
        """A group's thresholds as just saved: the next board uses them."""
        self.thresholds[group] = thresholds
        self._threshold_writes += 1

    def _read_thresholds(self) -> dict[str, Thresholds]:
        with self.store.reading("wallboard.thresholds") as conn:
            return load_thresholds(conn)

    def _online_owners(self, info: GroupInfo) -> list[str]:
        """The group's listed owners who may see it (by role, not only the list) and are on."""
        return [
            owner
            for owner in info.spec.supervisors
            if owner in self._owners_by_role and self.notifier.is_online(owner)
        ]

    async def _tick_forever(self) -> None:
        """Push the live views every tick; reload groups every few seconds beside it, so a slow
        store read (today's figures, a busy database) never holds the wallboards still."""
        next_refresh = 0.0
        reloading: asyncio.Task[None] | None = None
        try:
            while True:
                now = time.monotonic()
                if now >= next_refresh and (reloading is None or reloading.done()):
                    next_refresh = now + self._groups_every_s
                    reloading = asyncio.create_task(self._reload(), name="supervisor reload")
                try:
                    self.push_states()
                except Exception:
                    log.exception("supervisor console: live view update failed")
                await asyncio.sleep(self._tick_s)
        finally:
            if reloading is not None:
                reloading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloading

    async def _reload(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the store may be restarting; keep the last view
            log.exception("supervisor console: could not reload groups")

    def push_states(self) -> int:
        """Send ``group_state`` to each online owner whose view changed; return how many."""
        sent, now = 0, time.monotonic()
        for info in self._groups.values():
            owners = self._online_owners(info)
            if not owners:
                continue
            state = self.monitor.snapshot(info, self.names)
            comparable = {k: v for k, v in state.items() if k != "server_time"}
            board = self.board(info, state)
            seen = _to_the_second(board)
            for owner in owners:
                if self._due(self._sent, (owner, info.name), comparable, now):
                    self.notifier.group_state(owner, state)
                    sent += 1
                if self._due(self._boards, (owner, info.name), seen, now):
                    self.notifier.wallboard(owner, board)
        return sent

    def _due(
        self, sent: dict[tuple[str, str], tuple[Any, float]], key: tuple[str, str], seen: Any,
        now: float,
    ) -> bool:  # fmt: skip
        """Whether ``seen`` differs from what ``key`` last got (or a heartbeat is due); if so,
        remember it as sent."""
        last = sent.get(key)
        if last is not None and last[0] == seen and now - last[1] < self._heartbeat_s:
            return False
        sent[key] = (seen, now)
        return True

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("supervisor console: %s failed", name)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _to_the_second(board: Mapping[str, Any]) -> Any:
    """What a wall screen shows of ``board``: waits and times in state to the whole second."""
    queues = [{**q, "longest_wait_s": int(q["longest_wait_s"])} for q in board["queues"]]
    alerts = [(a["kind"], a["queue"]) for a in board["alerts"]]
    return {**board, "server_time": None, "queues": queues, "alerts": alerts}


class PopCounter:
    """The pop service's notifier with each pop counted for its group's live view."""

    def __init__(
        self, inner: AgentNotifier, counted: Callable[[Mapping[str, object]], None]
    ) -> None:
        self._inner = inner
        self._counted = counted

    def pop(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self._inner.pop(agent, call_id, html, data)
        self._counted(data)

    def pop_update(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self._inner.pop_update(agent, call_id, html, data)

    def pop_dismissed(self, agent: str, call_id: str, reason: str) -> None:
        self._inner.pop_dismissed(agent, call_id, reason)

    def call_state(self, agent: str, call_id: str, state: str, detail: dict[str, object]) -> None:
        self._inner.call_state(agent, call_id, state, detail)
