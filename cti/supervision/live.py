"""The live view of an agent group: its agents' states, its calls, its waiting callers, its pops.

:class:`GroupMonitor` is fed on the AMI read path (:meth:`GroupMonitor.observe` with each PBX
event and the call updates it caused), by the pop notifier (:meth:`pop_sent`) and by the pop
service (:meth:`template_failed`); it never blocks and does no I/O. :meth:`snapshot` builds
what a supervisor's page shows of one group from that and the tracker's active calls.

Agent state, most important first: on a call, ringing, wrap-up (the PBX says paused with the
reason ``wrap-up``, or the agent states say so: they alone know when it ends and which calls
have it, :mod:`cti.agent_state`, through the ``wrapups`` port), paused (a queue member paused
on the PBX, with its reason), ready. ``online`` says whether the agent has the desktop
open (a websocket).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cti.core.events import PbxEvent, QueueMemberChanged
from cti.core.updates import (
    CallAnswered,
    CallEnded,
    CallQueued,
    CallState,
    CallUpdate,
    CallView,
)
from cti.pop.directory import Directory
from cti.store.values import GroupInfo

__all__ = ["WRAPUP_REASON", "GroupMonitor"]

WRAPUP_REASON = "wrap-up"  # the pause reason that means wrap-up on the PBX (cti.agent_state)
MAX_FAILURES_KEPT = 20


@dataclass(slots=True)
class _Member:
    paused: bool
    reason: str
    since: float


@dataclass(frozen=True, slots=True)
class TemplateFailure:
    at: float
    group: str
    error: str
    call_id: str


class GroupMonitor:
    """Everything the live view needs that the tracker does not keep."""

    def __init__(
        self,
        *,
        calls: Callable[[], Sequence[CallView]],
        directory: Callable[[], Directory],
        online: Callable[[str], bool],
        wrapups: Callable[[str], tuple[float, float | None] | None] = lambda user: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``wrapups(user)``: (since, until) of the agent's wrap-up, None when not in one."""
        self._calls = calls
        self._wrapups = wrapups
        self._directory = directory
        self._online = online
        self._clock = clock
        self._members: dict[str, _Member] = {}  # queue member interface -> pause state
        self._queued_at: dict[str, float] = {}  # call id -> when it joined a queue
        self._pops: dict[tuple[str, str], int] = {}  # (group, UTC day) -> pops sent
        self._failures: dict[str, deque[TemplateFailure]] = {}
        self.version = 0  # bumped on every change a snapshot could show

    # ---------------------------------------------------------------------------- feeding
    def observe(self, event: PbxEvent, updates: Iterable[CallUpdate]) -> None:
        """One AMI event and the call updates it caused (the daemon's read path)."""
        if isinstance(event, QueueMemberChanged):
            self._member_changed(event)
        for update in updates:
            self.version += 1
            if isinstance(update, CallQueued):
                self._queued_at.setdefault(update.call.call_id, event.at)
            elif isinstance(update, CallAnswered | CallEnded):
                self._queued_at.pop(update.call.call_id, None)

    def pop_sent(self, group: str) -> None:
        day = datetime.fromtimestamp(self._clock(), UTC).date().isoformat()
        self._pops[(group, day)] = self._pops.get((group, day), 0) + 1
        if len(self._pops) > 10_000:  # a year of days for many groups: drop the oldest
            del self._pops[next(iter(self._pops))]
        self.version += 1

    def template_failed(self, group: str, error: str, call_id: str) -> TemplateFailure:
        failure = TemplateFailure(self._clock(), group, error[:500], call_id)
        self._failures.setdefault(group, deque(maxlen=MAX_FAILURES_KEPT)).append(failure)
        self.version += 1
        return failure

    def forget_group(self, group: str) -> None:
        self._failures.pop(group, None)

    def _member_changed(self, event: QueueMemberChanged) -> None:
        before = self._members.get(event.interface)
        reason = event.pause_reason if event.paused else ""
        if before is None or (before.paused, before.reason) != (event.paused, reason):
            self._members[event.interface] = _Member(event.paused, reason, event.at)
            self.version += 1

    # ---------------------------------------------------------------------------- reading
    def pops_today(self, group: str) -> int:
        day = datetime.fromtimestamp(self._clock(), UTC).date().isoformat()
        return self._pops.get((group, day), 0)

    def failures(self, group: str) -> list[TemplateFailure]:
        return list(self._failures.get(group, ()))

    def snapshot(self, group: GroupInfo, names: Mapping[str, str]) -> dict[str, object]:
        """What the live view of ``group`` shows now; ``names`` maps usernames to display names."""
        now = self._clock()
        directory = self._directory()
        spec = group.spec
        endpoints: dict[str, list[str]] = {}
        for endpoint, owners in directory.endpoint_owners.items():
            for owner in owners:
                endpoints.setdefault(owner, []).append(endpoint)
        calls = list(self._calls())
        members = set(spec.members)
        mine = [c for c in calls if self._belongs(c, group.name, members, directory)]
        return {
            "group": group.name,
            "server_time": now,
            "agents": [
                self._agent(user, names.get(user, user), sorted(endpoints.get(user, ())), calls)
                for user in sorted(members)
            ],
            "calls": [_call(c, directory) for c in mine if c.state is not CallState.QUEUED],
            "waiting": [
                {
                    "call_id": c.call_id,
                    "queue": c.queue or "",
                    "caller_number": c.caller.number,
                    "caller_name": c.caller.name,
                    "since": self._queued_at.get(c.call_id, c.started_at),
                }
                for c in mine
                if c.answered_at is None and c.queue in spec.queues
            ],
            "pops_today": self.pops_today(group.name),
            "failures": [
                {"at": f.at, "error": f.error, "call_id": f.call_id}
                for f in reversed(self.failures(group.name))
            ],
        }

    def _agent(
        self, user: str, name: str, phones: list[str], calls: list[CallView]
    ) -> dict[str, object]:
        state, since, until, reason, call_id = "ready", None, None, "", None
        member = next((self._members[p] for p in phones if p in self._members), None)
        if member is not None and member.paused:
            wrapping = member.reason.lower() == WRAPUP_REASON
            state, since, reason = ("wrapup" if wrapping else "paused"), member.since, member.reason
        wrap = self._wrapups(user)
        if wrap is not None and state in ("ready", "wrapup"):
            state, since, reason, until = "wrapup", wrap[0], WRAPUP_REASON, wrap[1]
        for call in calls:
            if call.agent in phones and call.answered_at is not None:
                state, since, call_id, reason = "on_call", call.answered_at, call.call_id, ""
                break
            if any(p in call.ringing for p in phones):
                state, since, call_id, reason = "ringing", call.started_at, call.call_id, ""
        return {
            "username": user,
            "name": name,
            "phones": phones,
            "state": state,
            "reason": reason,
            "since": since,
            "until": until,
            "call_id": call_id,
            "online": self._online(user),
        }

    @staticmethod
    def _belongs(call: CallView, group: str, members: set[str], directory: Directory) -> bool:
        involved = [call.agent, *call.ringing] if call.agent else list(call.ringing)
        users = [u for endpoint in involved if endpoint for u in directory.owners(endpoint)]
        if any(u in members for u in users):
            return True
        first = users[0] if users else ""
        return directory.group_for(did=call.did, queue=call.queue, agent=first).name == group


def _call(call: CallView, directory: Directory) -> dict[str, object]:
    owners = directory.owners(call.agent) if call.agent else ()
    return {
        "call_id": call.call_id,
        "caller_number": call.caller.number,
        "caller_name": call.caller.name,
        "did": call.did or "",
        "queue": call.queue or "",
        "state": str(call.state),
        "agent": owners[0] if owners else "",
        "ringing": [u for e in call.ringing for u in directory.owners(e)],
        "started_at": call.started_at,
        "answered_at": call.answered_at,
    }
