"""Calls recorded per group policy; the agent's pause; who may play a recording; retention.

The dialplan decides and names each recording itself, with nothing to wait for: the group
policies are dialplan globals published ahead of any call (:mod:`cti.recording.dialplan`), and
the ``cti-record`` gosub on the leg that answers starts MixMonitor on ``rec-<linkedid>-<uniqueid>``
(both parties, one file), so an agent who answers at once is recorded too. On the read path
(:meth:`RecordingService.observe`, never blocking) the ``MixMonitorStart`` of that leg
(:class:`~cti.core.events.RecordingStarted`) tells the daemon the recording runs and its name: a
row is stored; with ``demand`` the recording is muted until the agent starts it. Pause and
resume are AMI ``MixMonitorMute``: the paused span is silence in the file and is kept on the row.
The PBX work is done by owned tasks, awaited on :meth:`close`; a failure is logged and shown as
the recording status, the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cti.core.events import ChannelsListed, PbxEvent, RecordingStarted
from cti.core.updates import CallEnded, CallUpdate, CallView
from cti.errors import Conflict, CtiError, NotFound, PermissionDenied
from cti.pop.directory import Directory
from cti.principal import Action, Principal, Role, require
from cti.recording import rows
from cti.recording.dialplan import GENERATION_VARIABLE, dialplan_globals, record_file
from cti.recording.rows import GroupPolicy, Policy, RecordingRow
from cti.store import Store

__all__ = ["RecordCommands", "RecordingNotifier", "RecordingService", "RecordingStatus"]

log = logging.getLogger(__name__)

_UNSENT = "\x00"  # a global's value not known to be on the PBX: sent at the next pass
HELD_VARIABLE = "CTI_RECORD_HELD"  # the cti-record gosub waits for it on a demand recording
_KEEP_ENDED = 1000  # calls whose recording ids stay known after they end (their records)


class RecordCommands(Protocol):
    """The AMI actions recording uses (``AsteriskCommands`` implements them)."""

    async def set_variable(self, channel: str, name: str, value: str) -> object: ...
    async def set_global(self, name: str, value: str) -> object: ...
    async def mute_recording(self, channel: str, muted: bool) -> object: ...


class CallLookup(Protocol):
    def active_calls(self) -> list[CallView]: ...
    def channels_of(self, call_id: str) -> dict[str, str]: ...
    def call_of_channel(self, server: str, uniqueid: str) -> CallView | None: ...


class RecordingNotifier(Protocol):
    """Tells an agent's desktop that their call is recorded, paused or no longer recorded."""

    def recording(self, agent: str, data: Mapping[str, object]) -> None: ...


Audit = Callable[[str, Mapping[str, object], str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """What the admin status shows: green, or yellow with the reason."""

    ok: bool
    reason: str


@dataclass(slots=True)
class _Live:
    row: RecordingRow
    channel: str
    started: float  # epoch seconds
    paused_since: float | None


class RecordingService:
    """Recording policies, live recordings, playback rights and retention."""

    def __init__(
        self,
        *,
        store: Store,
        calls: CallLookup,
        servers: Mapping[str, RecordCommands],
        directory: Callable[[], Directory],
        supervisors_of: Callable[[str], Awaitable[tuple[str, ...]]],
        audit: Audit,
        files: Path,
        notifier: RecordingNotifier | None = None,
        link_base: str = "",
        publishes_to: Callable[[str], bool] = lambda server: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``files``: the directory where this host reads what Asterisk writes (its monitor
        spool directory, or the storage the admin names); ``link_base``: the public origin the
        call record's links start with (``https://cti.example.com``); ``publishes_to``: whether
        this node sets a server's globals (in a cluster, the node holding its AMI session)."""
        self._store = store
        self._calls = calls
        self._servers = servers
        self._directory = directory
        self._supervisors_of = supervisors_of
        self._audit = audit
        self.files = files
        self._notifier = notifier
        self._clock = clock
        self._publishes_to = publishes_to
        self._policies: dict[str, GroupPolicy] = {}
        self._policy_writes = 0  # set_policy calls: a reload read before one is not kept
        self._live: dict[str, _Live] = {}  # call id -> its recording
        self._link_base = link_base.rstrip("/")
        self._of_call: OrderedDict[str, list[str]] = OrderedDict()  # call id -> recording ids
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._published: dict[tuple[str, str], str] = {}  # (server, variable) -> value
        self._publishing = asyncio.Lock()  # one pass at a time: each server's generation last
        # This run's stamp on the policies it publishes: values an earlier run (or another
        # store) left in Asterisk's globals no longer count once CTI_RECORD_GEN names this one.
        self.generation = secrets.token_hex(4)
        self.status = RecordingStatus(True, "")

    # ---------------------------------------------------------------------------- policies
    async def start(self, sweep_every_s: float = 3600.0) -> None:
        self._policies = await self._store.aio.run(self._read, rows.all_policies)
        self.check_files()
        self._sweeper = asyncio.create_task(self._sweep_forever(sweep_every_s), name="rec-sweep")
        self._publisher = asyncio.create_task(self._publish_forever(), name="rec-announce")

    async def close(self) -> None:
        for task in (self._sweeper, self._publisher):
            if task is not None:
                task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def policy(self, group: str) -> GroupPolicy:
        return self._policies.get(group, GroupPolicy(group))

    async def policy_for(self, principal: Principal, group: str) -> GroupPolicy:
        """The group's policy, for its supervisors and admins (403 for anyone else)."""
        await self.check_reach(principal, group)
        return self.policy(group)

    async def tell_agent(self, group: str) -> bool:
        return self.policy(group).tell_agent

    async def set_policy(
        self, principal: Principal, group: str, fields: dict[str, Any]
    ) -> GroupPolicy:
        """A supervisor of ``group`` or an admin sets how it is recorded (403 for anyone else).

        Saved, it is published to every PBX reached now; one out of reach (down, or an added
        server not connected yet) gets it as its session logs in, or at the next full pass."""
        await self.check_reach(principal, group)
        policy = GroupPolicy.parse(group, fields)
        now = datetime.fromtimestamp(self._clock(), UTC)
        await self._store.aio.run(self._write, rows.save_policy, policy, now)
        self._policies[group] = policy
        self._policy_writes += 1
        await self._audit("recording.policy", policy.as_dict(), principal.username)
        try:
            await self.publish()
        except CtiError as exc:
            log.warning("recording: policy of %s saved, not yet on every PBX (%s)", group, exc)
        return policy

    def dialplan_globals(self, server: str) -> dict[str, str]:
        """The globals the dialplan of ``server`` reads (:mod:`cti.recording.dialplan`): each
        DID's, queue's, trunk's and agent endpoint's recording policy, and each queue's and
        agent extension's announcement ("" where the group does not record or says nothing)."""
        return dialplan_globals(
            self._directory(),
            server,
            lambda group: str(self.policy(group).policy),
            self._sound,
            self.generation,
        )

    async def publish(self) -> None:
        """Set the recording policies and announcements as dialplan globals on every PBX (only
        what changed since the last time; a PBX that restarted is caught up by
        :meth:`_publish_forever`'s full pass). They are globals, set ahead of any call, so the
        dialplan reads them as the call comes in and as the agent answers: no race with it.

        Every PBX there is now: those an admin added at runtime too (``servers`` follows them),
        but in a cluster only those whose AMI session this node holds (``publishes_to``): one
        publisher a server, so two nodes never take turns with their generations. One that
        cannot take them (not connected) keeps none of the others from getting theirs; it gets
        every value next time, and the first such error is raised once all were tried.
        """
        async with self._publishing:
            servers = [(name, c) for name, c in self._servers.items() if self._publishes_to(name)]
            for gone in {s for s, _ in self._published} - {name for name, _ in servers}:
                self._forget(gone)  # removed (or owned elsewhere): all again if it comes back
            failed: CtiError | None = None
            for server, commands in servers:
                try:
                    await self._publish_to(server, commands)
                except CtiError as exc:
                    self._resend(server)
                    failed = failed or exc
            if failed is not None:
                raise failed

    def _resend(self, server: str | None = None) -> None:
        """Send every global of ``server`` (or of all) again at the next pass. Their names stay
        known: one no longer wanted is still cleared there."""
        for key in self._published:
            if server is None or key[0] == server:
                self._published[key] = _UNSENT

    async def _publish_to(self, server: str, commands: RecordCommands) -> None:
        wanted = self.dialplan_globals(server)
        names = wanted.keys() | {v for s, v in self._published if s == server}
        # The generation last: until it is set, the values of the run before still count.
        wanted[GENERATION_VARIABLE] = self.generation
        for name in [*sorted(names - {GENERATION_VARIABLE}), GENERATION_VARIABLE]:
            value = wanted.get(name, "")
            if self._published.get((server, name)) != value:
                await commands.set_global(name, value)
                self._published[(server, name)] = value

    def _forget(self, server: str) -> None:
        for key in [key for key in self._published if key[0] == server]:
            del self._published[key]

    async def _publish_on_login(self, server: str) -> None:
        """``server``'s AMI session logged in: a server an admin just added, a changed one's new
        session, or a PBX back from a restart (which forgot its globals): all of them, now."""
        commands = self._servers.get(server)
        if commands is None or not self._publishes_to(server):
            return
        async with self._publishing:
            self._resend(server)
            try:
                await self._publish_to(server, commands)
            except CtiError as exc:  # lost again already: the next login or full pass
                self._resend(server)
                log.info("recording: announcements not published to %s yet (%s)", server, exc)

    async def refresh(self, *, full: bool = False) -> None:
        """Read the policies again (another node may have set one) and publish what changed
        where this node publishes; ``full``: every global, changed or not."""
        written = self._policy_writes
        fresh = await self._store.aio.run(self._read, rows.all_policies)
        if written == self._policy_writes:  # not one set here while it was read
            self._policies = fresh
        if full:
            self._resend()
        await self.publish()

    async def _publish_forever(self, every_s: float = 5.0, full_every: int = 6) -> None:
        """Every ``every_s``: the policies again from the store (another node of a cluster may
        have changed one, and only the node holding a server's session publishes there), and
        what changed; every ``full_every`` passes, every global (a PBX forgets them on restart).
        """
        passes = 0
        while True:
            try:
                await self.refresh(full=passes % full_every == 0)
            except Exception as exc:  # AMI not up yet, or a PBX restarting: the next pass
                log.info("recording: announcements not published yet (%s)", exc)
                self._resend()
            passes += 1
            await asyncio.sleep(every_s)

    def _sound(self, group: str) -> str:
        policy = self.policy(group)
        return policy.announcement if policy.policy is not Policy.NEVER else ""

    def check_files(self) -> RecordingStatus:
        """Whether recordings can be read (and the sweeper can delete) where they are kept."""
        if not self.files.is_dir():
            self.status = RecordingStatus(False, f"recording directory {self.files} is missing")
        elif not os.access(self.files, os.R_OK | os.W_OK | os.X_OK):
            self.status = RecordingStatus(False, f"recording directory {self.files} not writable")
        else:
            self.status = RecordingStatus(True, "")
        return self.status

    def links_of(self, call_id: str) -> tuple[str, ...]:
        """Links to the call's recordings, for its call record (asked as the call ends): each
        plays the file to a signed-in user allowed to hear the call (:meth:`file_for`)."""
        keys = self._of_call.get(call_id, ())
        return tuple(f"{self._link_base}/api/recordings/{key}" for key in keys)

    # ---------------------------------------------------------------------------- read path
    def observe(self, event: PbxEvent, updates: Iterable[CallUpdate]) -> None:
        """An AMI event and the call updates it caused, from the read path; PBX and store work
        goes to owned tasks."""
        if isinstance(event, RecordingStarted):
            self._started(event)
        elif isinstance(event, ChannelsListed) and self._publisher is not None:
            self._spawn(self._publish_on_login(event.server), f"publish to {event.server}")
        for update in updates:
            if isinstance(update, CallEnded):
                self._ended(update.call)

    def _started(self, event: RecordingStarted) -> None:
        """The dialplan started MixMonitor on an agent's leg (``MixMonitorStart``): keep the row
        of ``rec-<linkedid>-<uniqueid>``, the name the gosub gave the file."""
        channel = event.channel
        call = self._calls.call_of_channel(event.server, channel.uniqueid)
        owners = self._directory().owners(channel.endpoint)
        if call is None or not owners:
            log.warning("recording: %s started on %s, not an agent's call", channel.name, call)
            return
        if (previous := self._live.get(call.call_id)) is not None:
            self._close(previous, self._clock())  # a second agent's leg (a transfer)
        key = record_file(channel.linkedid, channel.uniqueid)
        group, now = self._group(call, owners[0]), self._clock()
        row = RecordingRow(
            key, call.call_id, call.server, owners[0], group,
            datetime.fromtimestamp(now, UTC), None, (), None,
        )  # fmt: skip
        live = _Live(row, channel.name, now, None)
        self._live[call.call_id] = live
        self._of_call.setdefault(call.call_id, []).append(key)
        while len(self._of_call) > _KEEP_ENDED + len(self._live):
            self._of_call.popitem(last=False)
        demand = self.policy(group).policy is Policy.DEMAND
        if demand:  # silent from its start: an open pause span
            live.paused_since, live.row = now, replace(row, pauses=((0.0, None),))
        self._spawn(self._store.aio.run(self._write, rows.insert_recording, live.row), "store it")
        if demand:
            self._spawn(self._hold(live), "hold it until the agent starts it")
        self._tell(live, "started")

    def _ended(self, call: CallView) -> None:
        live = self._live.pop(call.call_id, None)
        if live is not None:
            self._close(live, self._clock())

    def _close(self, live: _Live, now: float) -> None:
        if live.paused_since is not None:
            live.row = _closed(live, now)
        at = datetime.fromtimestamp(now, UTC)
        self._spawn(self._finish(live.row, at), "close it")
        self._tell(live, "ended")

    async def _finish(self, row: RecordingRow, at: datetime) -> None:
        await self._store.aio.run(self._write, rows.set_pauses, row.id, row.pauses)
        await self._store.aio.run(self._write, rows.end_recording, row.id, at)

    # ---------------------------------------------------------------------------- the agent
    async def pause(self, principal: Principal, call_id: str, paused: bool) -> RecordingRow:
        """The agent on the call pauses (silence, marked) or resumes its recording."""
        live = self._live.get(call_id)
        if live is None or live.row.agent != principal.username:
            raise NotFound(
                "no recording of a call of yours is running", details={"call_id": call_id[:128]}
            )
        if paused == (live.paused_since is not None):
            raise Conflict(
                "the recording is already " + ("paused" if paused else "running"),
                details={"call_id": call_id[:128]},
            )
        await self._mute(live, paused)
        now = self._clock()
        if paused:
            live.paused_since = now
            live.row = replace(
                live.row, pauses=(*live.row.pauses, (round(now - live.started, 2), None))
            )
        else:
            live.row = _closed(live, now)
        await self._store.aio.run(self._write, rows.set_pauses, live.row.id, live.row.pauses)
        kind = "recording.paused" if paused else "recording.resumed"
        await self._audit(kind, {"recording": live.row.id, "call_id": call_id}, principal.username)
        self._tell(live, "paused" if paused else "resumed")
        return live.row

    def _tell(self, live: _Live, event: str) -> None:
        """Send the agent's desktop the recording's state (the indicator on the call)."""
        if self._notifier is None:
            return
        data = {
            "event": event,
            "call_id": live.row.call_id,
            "recording": live.row.id,
            "paused": live.paused_since is not None,
            "policy": str(self.policy(live.row.group).policy),
        }
        self._notifier.recording(live.row.agent, data)

    async def _hold(self, live: _Live) -> None:
        """Mute a demand recording as it starts, then let the gosub waiting on its leg go on
        (``CTI_RECORD_HELD``): the leg is bridged only then, so nothing is heard before."""
        await self._mute(live, True)
        server = self._servers[live.row.server]  # _mute raised if it is not connected
        await server.set_variable(live.channel, HELD_VARIABLE, "1")
        live.started = self._clock()  # the file starts at the bridge, which follows at once

    async def _mute(self, live: _Live, muted: bool) -> None:
        server = self._servers.get(live.row.server)
        if server is None:
            raise NotFound("the call's PBX is not connected", details={"server": live.row.server})
        await server.mute_recording(live.channel, muted)

    # ---------------------------------------------------------------------------- playback
    async def of_call(self, principal: Principal, call_id: str) -> list[RecordingRow]:
        """The call's recordings the principal may hear (none: an empty list)."""
        found = await self._store.aio.run(self._read, rows.recordings_of_call, call_id)
        return [row for row in found if await self._may_hear(principal, row)]

    async def recent(self, principal: Principal, group: str, limit: int = 50) -> list[RecordingRow]:
        """The group's latest recordings, newest first, for its supervisors and admins (who
        see the list; playing is for those :meth:`_may_hear` lets)."""
        await self.check_reach(principal, group)
        return await self._store.aio.run(self._read, rows.recent_of_group, group, limit)

    async def file_for(self, principal: Principal, key: str, *, download: bool) -> Path:
        """The file of recording ``key`` for a user allowed to hear it; audited."""
        row = await self._store.aio.run(self._read, rows.get_recording, key[:64])
        if row is None:
            raise NotFound("no such recording", details={"recording": key[:64]})
        if not await self._may_hear(principal, row):
            raise PermissionDenied(
                "you may not hear this call's recording", details={"recording": row.id}
            )
        path = self.files / f"{row.id}.wav"
        if row.deleted_at is not None or not path.is_file():
            reason = "deleted after its retention" if row.deleted_at else "missing on disk"
            raise NotFound(f"the recording file is {reason}", details={"recording": row.id})
        kind = "recording.downloaded" if download else "recording.played"
        await self._audit(kind, {"recording": row.id, "call_id": row.call_id}, principal.username)
        return path

    async def _may_hear(self, principal: Principal, row: RecordingRow) -> bool:
        """The agent who took the call, and the supervisors of its group."""
        if principal.username == row.agent and principal.role is not Role.ADMIN:
            return True
        return principal.role is Role.SUPERVISOR and principal.username in (
            await self._supervisors_of(row.group)
        )

    # ---------------------------------------------------------------------------- retention
    async def sweep(self) -> int:
        """Delete files older than their group's retention; return how many went."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        shortest = min((p.retention_days for p in self._policies.values()), default=90)
        candidates = await self._store.aio.run(
            self._read, rows.live_before, now - timedelta(days=min(shortest, 90))
        )
        gone = 0
        for row in candidates:
            if row.started_at > now - timedelta(days=self.policy(row.group).retention_days):
                continue
            (self.files / f"{row.id}.wav").unlink(missing_ok=True)
            await self._store.aio.run(self._write, rows.mark_deleted, row.id, now)
            gone += 1
        return gone

    async def _sweep_forever(self, every_s: float) -> None:
        while True:
            try:
                self.check_files()
                if gone := await self.sweep():
                    log.info("retention: %d recordings deleted", gone)
            except Exception:  # the store may be restarting; the next pass catches up
                log.exception("the recording sweeper failed")
            await asyncio.sleep(every_s)

    # ---------------------------------------------------------------------------- helpers
    async def check_reach(self, principal: Principal, group: str) -> None:
        """Raise unless ``principal`` supervises ``group`` or is an admin (who reaches every
        existing group: 404 for one that does not exist). Routes call it before reading a body."""
        require(principal, Action.SUPERVISE_GROUPS)
        if principal.role is Role.ADMIN:
            if await self._store.aio.run(self._store.get_group, group) is None:
                raise NotFound("no such group", details={"group": group})
        elif principal.username not in await self._supervisors_of(group):
            raise PermissionDenied("you do not supervise this group", details={"group": group})

    def _group(self, call: CallView, agent: str) -> str:
        return (
            self._directory()
            .group_for(
                did=call.did, queue=call.queue, agent=agent, server=call.server, trunk=call.trunk
            )
            .name
        )

    def _spawn(self, work: Coroutine[Any, Any, object], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:
                log.warning("recording: could not %s (%s)", what, exc)
                self.status = RecordingStatus(False, f"could not {what}: {exc}")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._store.reading(fn.__name__) as conn:
            return fn(conn, *args)

    def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._store.writing(fn.__name__) as conn:
            return fn(conn, *args)


def _closed(live: _Live, now: float) -> RecordingRow:
    """The row with its open pause closed at ``now``."""
    live.paused_since = None
    pauses = list(live.row.pauses)
    if pauses and pauses[-1][1] is None:
        pauses[-1] = (pauses[-1][0], round(now - live.started, 2))
    return replace(live.row, pauses=tuple(pauses))
