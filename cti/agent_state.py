"""Agent state: ready, paused (with a reason) or in wrap-up, kept as Asterisk queue membership.

The PBX is the truth: ready means the agent's phones are unpaused queue members, paused means
paused with the agent's reason, wrap-up means paused with the reason ``wrap-up`` for the
group's ``wrapup_seconds`` after an answered call of the kind the group's
``wrapup_applies_to`` names (queue calls by default; all; none).

Wrap-up never stacks: a call with wrap-up that ends while the agent is in wrap-up (possible
only for direct calls, with ``all``) restarts the countdown from its own end, so wrap-up
never lasts longer than the group's length after the last such call and lengths never add
up; a call without wrap-up (a direct call under ``queue``) leaves a running wrap-up as it is.
The agent ends wrap-up early with :meth:`AgentStates.end_wrapup` (the desktop's button).

:class:`AgentStates` sends ``QueuePause`` through a :class:`QueueControl` port and learns
every change back from the PBX's ``QueueMemberPause`` / ``QueueMemberStatus`` events
(:meth:`AgentStates.on_member_changed`), whoever made it (the desktop, a supervisor, a
phone's feature code, the CLI). Each change in what an agent's page should show goes to a
listener (the agent hub, as an ``agent_state``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from cti.core.events import QueueMemberChanged
from cti.core.records import Outcome
from cti.core.updates import CallEnded
from cti.errors import Conflict, ValidationFailed
from cti.pop.directory import Directory

__all__ = [
    "WRAPUP_REASON",
    "AgentState",
    "AgentStates",
    "AgentStatus",
    "QueueControl",
    "check_reason",
]

log = logging.getLogger(__name__)

WRAPUP_REASON = "wrap-up"  # the pause reason that marks wrap-up on the PBX
MAX_REASON_CHARS = 40
_MEMBER_SYNC_EVERY_S = 30.0
# A pause just sent is not in the PBX's events yet: QueueMemberStatus events raised before it
# (a phone going idle as a call ends) still say "not paused". Ignore what contradicts a pause
# sent less than this long ago, until an event confirms it.
_SETTLE_S = 3.0


class AgentStatus(StrEnum):
    UNKNOWN = "unknown"  # the PBX has not told yet
    READY = "ready"
    PAUSED = "paused"
    WRAPUP = "wrapup"


@dataclass(frozen=True, slots=True)
class AgentState:
    status: AgentStatus
    reason: str = ""
    since: float = 0.0  # wall clock
    until: float | None = None  # when wrap-up ends (wall clock)

    def as_dict(self) -> dict[str, object]:
        return {
            "state": str(self.status),
            "reason": self.reason,
            "since": self.since,
            "until": self.until,
        }


class QueueControl(Protocol):
    """The PBX side: pause queue members, list them (the Asterisk adapter implements it)."""

    async def pause(self, interface: str, paused: bool, reason: str) -> bool:
        """Pause or unpause ``interface`` in all its queues; False if no queue has it."""
        ...

    async def members(self) -> list[QueueMemberChanged]:
        """Every queue member's current state, one value per queue and member."""
        ...


StateListener = Callable[[str, AgentState], None]


def check_reason(reason: object) -> str:
    """Return a pause reason fit for the PBX and the page; raise ValidationFailed otherwise."""
    if not isinstance(reason, str):
        raise ValidationFailed("a pause reason is text", details={"field": "reason"})
    text = reason.strip()
    if not 0 < len(text) <= MAX_REASON_CHARS or not text.isprintable():
        raise ValidationFailed(
            f"a pause reason is 1 to {MAX_REASON_CHARS} printable characters",
            details={"field": "reason"},
        )
    if text.casefold() == WRAPUP_REASON:
        raise ValidationFailed("wrap-up starts by itself after a call", details={"field": "reason"})
    return text


class AgentStates:
    """Every agent's state, the PBX's queue pauses behind it, and wrap-up timers."""

    def __init__(
        self,
        queues: QueueControl,
        directory: Callable[[], Directory],
        listener: StateListener,
        *,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queues = queues
        self._directory = directory
        self._listener = listener
        self._wall = wall_clock
        self._clock = clock
        self._states: dict[str, AgentState] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._synced_at: float | None = None
        self._sync_lock = asyncio.Lock()
        self._expected: dict[str, tuple[bool, str, float]] = {}  # agent -> paused, reason, until

    # ---------------------------------------------------------------------------- queries
    def state_of(self, agent: str) -> AgentState:
        return self._states.get(agent, AgentState(AgentStatus.UNKNOWN))

    async def current(self, agent: str) -> AgentState:
        """Return ``agent``'s state, asking the PBX first if it never told (start-up)."""
        if self.state_of(agent).status is AgentStatus.UNKNOWN:
            await self._sync_members()
        state = self.state_of(agent)
        if state.status is AgentStatus.UNKNOWN:  # in no queue: ready for direct calls
            state = self._set(agent, AgentState(AgentStatus.READY, since=self._wall()))
        return state

    # ---------------------------------------------------------------------------- commands
    async def set_ready(self, agent: str) -> AgentState:
        """Unpause the agent's phones in every queue (ends wrap-up early, too)."""
        self._cancel_timer(agent)
        await self._pause_all(agent, paused=False, reason="")
        return self._set(agent, AgentState(AgentStatus.READY, since=self._wall()))

    async def set_paused(self, agent: str, reason: str) -> AgentState:
        """Pause the agent's phones in every queue with ``reason`` (shown to supervisors)."""
        text = check_reason(reason)
        self._cancel_timer(agent)
        await self._pause_all(agent, paused=True, reason=text)
        return self._set(agent, AgentState(AgentStatus.PAUSED, text, since=self._wall()))

    async def end_wrapup(self, agent: str) -> tuple[AgentState, float]:
        """End the agent's wrap-up now: ready in every queue; return it and the seconds cut.

        Conflict (409) when the agent is not in wrap-up, so a late click after the timer
        ran out, or in another tab, changes nothing and says so.
        """
        state = self.state_of(agent)
        if state.status is not AgentStatus.WRAPUP:
            raise Conflict(
                "you are not in wrap-up", details={"state": str(state.status), "agent": agent}
            )
        left = max(0.0, state.until - self._wall()) if state.until is not None else 0.0
        return await self.set_ready(agent), round(left, 1)

    def wrapup_of(self, agent: str) -> tuple[float, float | None] | None:
        """(since, until) of the agent's wrap-up (until None: not started here); None if none."""
        state = self.state_of(agent)
        return (state.since, state.until) if state.status is AgentStatus.WRAPUP else None

    async def close(self) -> None:
        """Stop wrap-up timers (the PBX keeps those agents paused until they press ready)."""
        timers = list(self._timers.values())
        self._timers.clear()
        for task in timers:
            task.cancel()
        if timers:
            await asyncio.gather(*timers, return_exceptions=True)

    # ---------------------------------------------------------------------------- events
    def on_member_changed(self, event: QueueMemberChanged) -> None:
        """Learn an agent's state from the PBX (QueueMemberPause, QueueMemberStatus...)."""
        for agent in self._directory().owners(event.interface):
            if self._stale(agent, event):
                continue
            current = self.state_of(agent)
            if not event.paused:
                new = AgentState(AgentStatus.READY)
            elif event.pause_reason.casefold() == WRAPUP_REASON:
                new = AgentState(AgentStatus.WRAPUP, WRAPUP_REASON, until=current.until)
            else:
                new = AgentState(AgentStatus.PAUSED, event.pause_reason)
            if (new.status, new.reason) != (current.status, current.reason):
                if new.status is not AgentStatus.WRAPUP:
                    self._cancel_timer(agent)
                self._set(agent, replace(new, since=self._wall()))

    def on_call_ended(self, update: CallEnded) -> None:
        """Start the wrap-up of the agent who answered the call, if their group gives it one.

        The group decides whether the call has wrap-up (:meth:`GroupConfig.wrapup_after`);
        one that has restarts a running wrap-up from now, one that has not leaves it alone.
        """
        record = update.record
        if record is None or record.outcome is not Outcome.ANSWERED or not record.answered_by:
            return
        directory = self._directory()
        for agent in directory.owners(record.answered_by):
            group = directory.group_for(
                did=record.did,
                queue=record.queue,
                agent=agent,
                server=record.server,
                trunk=record.trunk,
            )
            seconds = group.wrapup_after(record.queue)
            if seconds > 0 and self.state_of(agent).status is not AgentStatus.PAUSED:
                self._start_wrapup(agent, seconds)

    # ---------------------------------------------------------------------------- internals
    def _stale(self, agent: str, event: QueueMemberChanged) -> bool:
        """Whether ``event`` predates the pause this service just sent for ``agent``."""
        expected = self._expected.get(agent)
        if expected is None:
            return False
        paused, reason, until = expected
        if event.paused == paused and (not paused or event.pause_reason == reason):
            del self._expected[agent]  # the PBX confirms it
            return False
        if self._clock() < until:
            return True
        del self._expected[agent]
        return False

    def _start_wrapup(self, agent: str, seconds: int) -> None:
        self._cancel_timer(agent)
        self._expected[agent] = (True, WRAPUP_REASON, self._clock() + _SETTLE_S)
        now = self._wall()
        self._set(agent, AgentState(AgentStatus.WRAPUP, WRAPUP_REASON, now, now + seconds))
        task = asyncio.get_running_loop().create_task(
            self._wrapup(agent, seconds), name=f"wrap-up {agent}"
        )
        self._timers[agent] = task
        task.add_done_callback(lambda t: self._forget_timer(agent, t))

    async def _wrapup(self, agent: str, seconds: int) -> None:
        try:
            await self._pause_all(agent, paused=True, reason=WRAPUP_REASON)
            await asyncio.sleep(seconds)
            if self._timers.get(agent) is asyncio.current_task():
                del self._timers[agent]  # past this point nothing cancels the unpause
            if self.state_of(agent).status is AgentStatus.WRAPUP:
                await self._pause_all(agent, paused=False, reason="")
                self._set(agent, AgentState(AgentStatus.READY, since=self._wall()))
        except asyncio.CancelledError:
            raise
        except Exception:  # the PBX went away: the agent presses ready when it is back
            log.exception("wrap-up of %s: the PBX did not take the pause", agent)

    def _forget_timer(self, agent: str, task: asyncio.Task[None]) -> None:
        if self._timers.get(agent) is task:
            del self._timers[agent]

    def _cancel_timer(self, agent: str) -> None:
        task = self._timers.pop(agent, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _pause_all(self, agent: str, *, paused: bool, reason: str) -> None:
        self._expected[agent] = (paused, reason, self._clock() + _SETTLE_S)
        for endpoint in self._endpoints(agent):
            if not await self._queues.pause(endpoint, paused, reason):
                log.debug("%s (%s) is in no queue: state kept by the CTI only", endpoint, agent)

    def _endpoints(self, agent: str) -> list[str]:
        owners = self._directory().endpoint_owners
        return sorted(endpoint for endpoint, users in owners.items() if agent in users)

    async def _sync_members(self) -> None:
        async with self._sync_lock:
            now = self._clock()
            if self._synced_at is not None and now - self._synced_at < _MEMBER_SYNC_EVERY_S:
                return
            self._synced_at = now
            for member in await self._queues.members():
                self.on_member_changed(member)

    def _set(self, agent: str, state: AgentState) -> AgentState:
        previous = self._states.get(agent)
        self._states[agent] = state
        if previous is None or (previous.status, previous.reason, previous.until) != (
            state.status,
            state.reason,
            state.until,
        ):
            self._listener(agent, state)
        return state
