"""Listen, whisper and barge: who may, on which call, and the AMI actions that do it.

A supervisor may join a live, answered call of an agent only when they supervise the call's
group (the group the pop service picks: DID, then queue, then trunk, then the agent's first
group); everyone else, admins included, gets 403 and nothing is sent to the PBX. Joining
originates a call to the supervisor's own phone into ``cti-spy``, exten ``l``/``w``/``b``, with
``CTI_SPY_TARGET`` the agent's endpoint (``extensions.conf``). Once that phone is up, a mode
change is ChanSpy's own DTMF (4 listen, 5 whisper, 6 barge, option ``d``), sent with AMI
``PlayDTMF`` ``Receive: true`` as if the supervisor had keyed it; leaving hangs the
supervisor's channel up. Every start, switch and leave is audited.

A session also ends on its own (:meth:`MonitorService.observe`): when the supervisor's phone
does not answer (or rejects the call), when the supervisor hangs it up, and when the agent's call
ends while they listen (ChanSpy's ``E`` ends the spy; the supervisor's channel is hung up here
too, in case it still stands). Each is audited as ``monitor.ended`` with its reason, and the
supervisor's console is told (a ``monitoring`` frame with ``event: ended`` and the reason).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from cti.core.events import OriginateResponded, PbxEvent
from cti.core.updates import CallEnded, CallState, CallUpdate, CallView
from cti.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cti.pop.directory import Directory
from cti.principal import Action, Principal, Role, require

log = logging.getLogger(__name__)

__all__ = [
    "CallLookup",
    "Mode",
    "MonitorNotifier",
    "MonitorService",
    "MonitorSession",
    "SpyCommands",
]

SPY_CONTEXT = "cti-spy"


class Mode(StrEnum):
    LISTEN = "listen"  # the supervisor hears both parties; nobody hears the supervisor
    WHISPER = "whisper"  # the agent hears the supervisor; the caller does not
    BARGE = "barge"  # both parties hear the supervisor

    @classmethod
    def parse(cls, value: object) -> Mode:
        try:
            return cls(str(value))
        except ValueError:
            raise ValidationFailed(
                "mode is listen, whisper or barge", details={"field": "mode"}
            ) from None


_EXTEN = {Mode.LISTEN: "l", Mode.WHISPER: "w", Mode.BARGE: "b"}
_DTMF = {Mode.LISTEN: "4", Mode.WHISPER: "5", Mode.BARGE: "6"}  # app_chanspy option d


class SpyCommands(Protocol):
    """The AMI actions monitoring uses (``AsteriskCommands`` implements them)."""

    async def originate(
        self,
        endpoint_channel: str,
        context: str,
        exten: str,
        *,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        action_id: str | None = None,
        priority: int = 1,
    ) -> object: ...
    async def play_dtmf(self, channel: str, digit: str, *, receive: bool = False) -> object: ...
    async def hangup(self, channel: str, cause: int = 16) -> object: ...


class CallLookup(Protocol):
    """What monitoring reads from the call tracker."""

    def active_calls(self) -> list[CallView]: ...
    def channels_of(self, call_id: str) -> dict[str, str]: ...


class MonitorNotifier(Protocol):
    """Tells an agent's desktop that a supervisor joined or left their call, and a supervisor's
    console that their session ended on its own (with the reason)."""

    def monitoring(self, agent: str, data: Mapping[str, object]) -> None: ...


Audit = Callable[[str, Mapping[str, object], str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MonitorSession:
    """One supervisor on one call; ``originate_id`` finds the supervisor's channel."""

    id: str
    supervisor: str
    call_id: str
    server: str
    agent_endpoint: str
    agents: tuple[str, ...]
    group: str
    mode: Mode
    originate_id: str
    told_agent: bool
    started_at: float

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "agent_endpoint": self.agent_endpoint,
            "agents": list(self.agents),
            "group": self.group,
            "mode": str(self.mode),
            "started_at": self.started_at,
        }


class MonitorService:
    """Start, switch and end supervisors' listen/whisper/barge sessions."""

    def __init__(
        self,
        *,
        calls: CallLookup,
        servers: Mapping[str, SpyCommands],
        directory: Callable[[], Directory],
        supervisors_of: Callable[[str], Awaitable[tuple[str, ...]]],
        endpoints_of: Callable[[str], Sequence[str]],
        tell_agent: Callable[[str], Awaitable[bool]],
        notifier: MonitorNotifier,
        audit: Audit,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``supervisors_of(group)`` and ``tell_agent(group)`` read the store."""
        self._calls = calls
        self._servers = servers
        self._directory = directory
        self._supervisors_of = supervisors_of
        self._endpoints_of = endpoints_of
        self._tell_agent = tell_agent
        self._notifier = notifier
        self._audit = audit
        self._clock = clock
        self._sessions: dict[str, MonitorSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Wait for the endings still being handled (hang-ups, audit)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---------------------------------------------------------------------------- commands
    async def start(self, principal: Principal, call_id: str, mode: Mode) -> MonitorSession:
        """Ring the supervisor's phone and join it to ``call_id`` in ``mode``."""
        call, endpoint, agents, group = await self._allowed_call(principal, call_id)
        phone = self._phone_of(principal.username)
        session = MonitorSession(
            id=uuid.uuid4().hex,
            supervisor=principal.username,
            call_id=call.call_id,
            server=call.server,
            agent_endpoint=endpoint,
            agents=agents,
            group=group,
            mode=mode,
            originate_id=f"spy-{uuid.uuid4().hex}",
            told_agent=await self._tell_agent(group),
            started_at=self._clock(),
        )
        await self._server(call.server).originate(
            phone,
            SPY_CONTEXT,
            _EXTEN[mode],
            caller_id=f'"Listen {endpoint}" <{endpoint.rsplit("/", 1)[-1]}>',
            variables={"CTI_SPY_TARGET": endpoint, "CTI_ORIGINATE_ID": session.originate_id},
            timeout_s=30,
            action_id=session.originate_id,
        )
        self._sessions[session.id] = session
        await self._audit("monitor.started", _details(session), principal.username)
        self._tell(session, "started")
        return session

    async def switch(self, principal: Principal, session_id: str, mode: Mode) -> MonitorSession:
        """Change the mode of the supervisor's own session (ChanSpy DTMF 4/5/6)."""
        session = self._own(principal, session_id)
        channel = self._spy_channel(session)
        if channel is None:
            raise Conflict("your phone has not answered yet", details={"session": session.id})
        await self._server(session.server).play_dtmf(channel, _DTMF[mode], receive=True)
        session = replace(session, mode=mode)
        self._sessions[session.id] = session
        await self._audit("monitor.mode", _details(session), principal.username)
        self._tell(session, "mode")
        return session

    async def leave(self, principal: Principal, session_id: str) -> None:
        """Hang up the supervisor's side; the agent's call goes on."""
        session = self._own(principal, session_id)
        channel = self._spy_channel(session)
        if channel is not None:
            await self._server(session.server).hangup(channel)
        self._sessions.pop(session.id, None)
        await self._audit("monitor.left", _details(session), principal.username)
        self._tell(session, "ended")

    def sessions_of(self, principal: Principal) -> list[MonitorSession]:
        return [s for s in self._sessions.values() if s.supervisor == principal.username]

    # ---------------------------------------------------------------------------- read path
    def observe(self, event: PbxEvent, updates: Iterable[CallUpdate]) -> None:
        """End the sessions whose call, or whose supervisor's own call, ended, or whose
        Originate failed (the read path; the hang-up and the audit go to owned tasks)."""
        if isinstance(event, OriginateResponded) and not event.success:
            for session in list(self._sessions.values()):
                if session.originate_id == event.action_id:  # rejected, busy, unreachable
                    self._end(session, "not_answered")
        for update in updates:
            if not isinstance(update, CallEnded):
                continue
            for session in list(self._sessions.values()):
                if update.call.call_id == session.call_id:
                    reason = "call_ended"  # the agent's call ended while they listened
                elif update.call.originate_id != session.originate_id:
                    continue
                elif update.call.answered_at is None:
                    reason = "not_answered"  # the supervisor's phone never picked up
                else:
                    reason = "hung_up"  # the supervisor hung their phone up
                self._end(session, reason)

    def _end(self, session: MonitorSession, reason: str) -> None:
        del self._sessions[session.id]
        task = asyncio.get_running_loop().create_task(self._ended(session, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ended(self, session: MonitorSession, reason: str) -> None:
        """Hang the supervisor's phone up if it still stands, audit, tell both sides."""
        channel = self._spy_channel(session) if reason == "call_ended" else None
        if channel is not None:
            try:
                await self._server(session.server).hangup(channel)
            except Exception as exc:  # ChanSpy's E may have hung it up first: nothing to do
                log.info("monitoring: %s already gone (%s)", channel, exc)
        self._tell(session, "ended")
        data = {"event": "ended", "session": session.id, "call_id": session.call_id}
        self._notifier.monitoring(session.supervisor, {**data, "reason": reason})
        await self._audit(
            "monitor.ended", {**_details(session), "reason": reason}, session.supervisor
        )

    # ---------------------------------------------------------------------------- helpers
    async def _allowed_call(
        self, principal: Principal, call_id: str
    ) -> tuple[CallView, str, tuple[str, ...], str]:
        """The answered call, its agent's endpoint and owners and its group, if the principal
        supervises that group; PermissionDenied (403) otherwise, before any PBX action."""
        require(principal, Action.SUPERVISE_GROUPS)
        if principal.role is not Role.SUPERVISOR:
            raise PermissionDenied(
                "only a supervisor of the agent's group may listen to a call",
                details={"role": str(principal.role)},
            )
        call = next((c for c in self._calls.active_calls() if c.call_id == call_id), None)
        directory = self._directory()
        agents = directory.owners(call.agent) if call is not None and call.agent else ()
        if call is None or call.state is not CallState.ANSWERED or not agents:
            raise NotFound(
                "no answered agent call with that id (it ended, or it is not an agent's)",
                details={"call_id": call_id[:128]},
            )
        assert call.agent is not None
        group = directory.group_for(
            did=call.did, queue=call.queue, agent=agents[0], server=call.server, trunk=call.trunk
        ).name
        if principal.username not in await self._supervisors_of(group):
            raise PermissionDenied(
                "you do not supervise this call's group", details={"group": group}
            )
        return call, call.agent, agents, group

    def _phone_of(self, username: str) -> str:
        phones = [e for e in self._endpoints_of(username) if not e.endswith("-webrtc")]
        phones = phones or list(self._endpoints_of(username))
        if not phones:
            raise Conflict(
                "you have no phone to listen on: an admin gives you one in the agents list",
                details={"user": username},
            )
        return phones[0]

    def _own(self, principal: Principal, session_id: str) -> MonitorSession:
        require(principal, Action.SUPERVISE_GROUPS)
        session = self._sessions.get(session_id)
        if session is None or session.supervisor != principal.username:
            raise NotFound(
                "no such monitoring session of yours", details={"session": session_id[:64]}
            )
        return session

    def _spy_channel(self, session: MonitorSession) -> str | None:
        """The supervisor's channel: the originated call's first channel, once it exists."""
        for call in self._calls.active_calls():
            if call.originate_id == session.originate_id:
                return self._calls.channels_of(call.call_id).get("caller")
        return None

    def _server(self, name: str) -> SpyCommands:
        server = self._servers.get(name)
        if server is None:
            raise NotFound("the call's PBX is not connected", details={"server": name})
        return server

    def _tell(self, session: MonitorSession, what: str) -> None:
        if not session.told_agent:
            return
        data = {"event": what, "call_id": session.call_id, "mode": str(session.mode)}
        for agent in session.agents:
            self._notifier.monitoring(agent, data)


def _details(session: MonitorSession) -> dict[str, object]:
    return {
        "session": session.id,
        "call_id": session.call_id,
        "agent_endpoint": session.agent_endpoint,
        "group": session.group,
        "mode": str(session.mode),
    }
