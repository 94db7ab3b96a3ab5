"""The agent desktop's APIs, composed from the parts the root hands it.

``Desktop(...)`` builds click-to-dial (:mod:`agent_ui.dial`), call control
(:mod:`agent_ui.call_control`) and the CRM API (:mod:`agent_ui.crm_api`), and serves the
agent states (:mod:`cti.agent_state`) the root built; the daemon adds :meth:`Desktop.routes`
to its app, feeds :meth:`Desktop.on_event` every PBX event with the call updates it caused,
and awaits :meth:`Desktop.close` when it drains.

The page is ``/agent``, served with the other consoles by :mod:`agent_ui.web` (plain HTML in
``pages/agent.html``, its code in ``/static/agent/*.js`` as ES modules on ``/static/common/``:
nothing inline, so the strict CSP holds). Everything else it needs comes over ``/ws`` and the
JSON APIs listed in docs/protocol.md.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.call_control import CallCommands, CallControl, CallLookup
from agent_ui.crm_api import CrmApi
from agent_ui.dial import Dialer, Originator
from agent_ui.json_body import query_text, read_json
from agent_ui.notifier import Notifier
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from crm_connectors.base import CrmConnector
from cti.agent_state import AgentState, AgentStates, AgentStatus
from cti.config import DialSettings
from cti.core.events import OriginateResponded, PbxEvent, QueueMemberChanged
from cti.core.updates import CallEnded, CallUpdate
from cti.dial_rules import DialRules
from cti.errors import AmiError, ValidationFailed
from cti.numbers import RegionSource
from cti.pop.directory import Directory
from cti.principal import Action, require
from cti.store import Store
from cti.store.values import AgentEndpoint

__all__ = ["PAUSE_REASONS", "Desktop", "PbxCommands"]

log = logging.getLogger(__name__)

PAUSE_REASONS = ("Break", "Lunch", "Training", "Meeting", "Back office")
_EXTENSION_PREFIX = "PJSIP/"


class PbxCommands(Originator, CallCommands, Protocol):
    """The PBX commands of one server the desktop uses (the Asterisk adapter implements them)."""


class Desktop:
    """Every server-side piece of the agent desktop; the composition root hands it its parts."""

    def __init__(
        self,
        *,
        dial: DialSettings,
        region: str | RegionSource,
        store: Store,
        crm: CrmConnector,
        calls: CallLookup,
        commands: Mapping[str, PbxCommands],
        states: AgentStates,
        directory: Callable[[], Directory],
        notifier: Notifier,
        look_up_again: Callable[[str], Awaitable[bool]],
        was_shown: Callable[[str, str], Awaitable[bool]],
    ) -> None:
        self._store = store
        self._calls = calls
        self._directory = directory
        rules = DialRules(dial, region)
        self.dialer = Dialer(dial, rules, commands, self._agent_endpoints, notifier.dial_status)
        self.calls = CallControl(
            calls, commands, self._endpoints_in_directory, rules, dial.transfer_context
        )
        self.crm = CrmApi(crm, region, look_up_again, was_shown)
        self.states = states

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/dial", self.dialer.endpoint, methods=["POST"]),
            Route("/api/calls/hangup", self.calls.hangup_endpoint, methods=["POST"]),
            Route("/api/calls/transfer", self.calls.transfer_endpoint, methods=["POST"]),
            Route("/api/calls/restore", self._restore, methods=["GET"]),
            Route("/api/crm/search", self.crm.search, methods=["GET"]),
            Route("/api/crm/history", self.crm.history, methods=["GET"]),
            Route("/api/crm/link", self.crm.link_number, methods=["POST"]),
            Route("/api/crm/contacts", self.crm.create_contact, methods=["POST"]),
            Route("/api/agent/state", self._get_state, methods=["GET"]),
            Route("/api/agent/state", self._set_state, methods=["POST"]),
            Route("/api/agent/wrapup/end", self._end_wrapup, methods=["POST"]),
            Route("/api/agent/colleagues", self._colleagues, methods=["GET"]),
        ]

    def on_event(self, event: PbxEvent, updates: Sequence[CallUpdate]) -> None:
        """The daemon's AMI read path: queue pauses, originate outcomes, wrap-up starts."""
        if isinstance(event, QueueMemberChanged):
            self.states.on_member_changed(event)
        elif isinstance(event, OriginateResponded):
            self.dialer.on_originate_response(event)
        for update in updates:
            if isinstance(update, CallEnded):
                self.states.on_call_ended(update)

    async def close(self) -> None:
        await self.states.close()

    # ---------------------------------------------------------------------------- agent
    async def _get_state(self, request: Request) -> Response:
        """``GET /api/agent/state``: the agent's state and the pause reasons to offer."""
        principal = route_auth(request).session(request).principal
        require(principal, Action.SET_AGENT_STATE)
        try:
            state = await self.states.current(principal.username)
        except AmiError as exc:
            log.warning("agent state of %s unknown: %s", principal.username, exc)
            state = AgentState(AgentStatus.UNKNOWN)
        return JSONResponse(self._state_body(state), headers=NO_STORE)

    async def _set_state(self, request: Request) -> Response:
        """``POST /api/agent/state`` ``{"state": "ready"}`` or ``{"state": "paused", "reason"}``."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.SET_AGENT_STATE)
        body = await read_json(request)
        wanted, agent = body.get("state"), session.principal.username
        if wanted == "ready" and self.states.state_of(agent).status is AgentStatus.WRAPUP:
            state = await self._wrapup_ended(agent, "state")
        elif wanted == "ready":
            state = await self.states.set_ready(agent)
        elif wanted == "paused":
            state = await self.states.set_paused(agent, str(body.get("reason") or ""))
        else:
            raise ValidationFailed("state is ready or paused", details={"field": "state"})
        return JSONResponse(self._state_body(state), headers=NO_STORE)

    async def _end_wrapup(self, request: Request) -> Response:
        """``POST /api/agent/wrapup/end``: end the agent's wrap-up now (409 when not in one)."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.SET_AGENT_STATE)
        state = await self._wrapup_ended(session.principal.username, "button")
        return JSONResponse(self._state_body(state), headers=NO_STORE)

    async def _wrapup_ended(self, agent: str, via: str) -> AgentState:
        """End ``agent``'s wrap-up early and say so in the audit log (``agent.wrapup_ended``)."""
        state, left = await self.states.end_wrapup(agent)
        details = {"agent": agent, "seconds_left": left, "via": via}
        try:
            await self._store.aio.run(
                self._store.record_event, "agent.wrapup_ended", details, agent
            )
        except Exception:  # the agent is ready on the PBX already; a failing log never undoes it
            log.exception("could not write the end of %s's wrap-up to the audit log", agent)
        return state

    async def _colleagues(self, request: Request) -> Response:
        """``GET /api/agent/colleagues``: other agents' names and extensions (transfer targets)."""
        principal = route_auth(request).session(request).principal
        require(principal, Action.CONTROL_CALL)
        people = []
        for agent in await self._store.aio.run(self._store.agents):
            if not agent.active or agent.username == principal.username:
                continue
            for endpoint in agent.endpoints:
                extension = endpoint.endpoint.removeprefix(_EXTENSION_PREFIX)
                if endpoint.endpoint.startswith(_EXTENSION_PREFIX) and extension.isdigit():
                    people.append({"name": agent.name, "extension": extension})
        people.sort(key=lambda p: p["name"].casefold())
        return JSONResponse({"colleagues": people}, headers=NO_STORE)

    async def _restore(self, request: Request) -> Response:
        """``GET /api/calls/restore?call_id=``: this agent's notes and the call's live state.

        A reloaded page gets its pops from the websocket snapshot, and this for each: the notes
        and disposition stored so far, and whether the agent is on the call (and since when).
        """
        principal = route_auth(request).session(request).principal
        require(principal, Action.WRITE_CALL_NOTES)
        call_id = query_text(request, "call_id", 128)
        if call_id is None:
            raise ValidationFailed("call_id is required", details={"field": "call_id"})
        mine = [
            note
            for note in await self._store.aio.run(self._store.notes_for, call_id)
            if note.username == principal.username
        ]
        state, answered_at = self._live_state(principal.username, call_id)
        body = {
            "call_id": call_id,
            "notes": mine[0].notes if mine else "",
            "disposition": mine[0].disposition if mine else None,
            "state": state,
            "answered_at": answered_at,
        }
        return JSONResponse(body, headers=NO_STORE)

    def _live_state(self, username: str, call_id: str) -> tuple[str, float | None]:
        """``answered`` (since), ``ringing``, ``elsewhere`` or ``ended``, as the tracker sees it."""
        tracker = self._calls
        view = next((c for c in tracker.active_calls() if c.call_id == call_id), None)
        if view is None:
            return "ended", None
        mine = self._endpoints_in_directory(username)
        if view.answered_at is not None and view.agent in mine:
            return "answered", view.answered_at
        channels = tracker.channels_of(call_id).values()
        if any(name.startswith(f"{endpoint}-") for name in channels for endpoint in mine):
            return "ringing", None
        return "elsewhere", None

    # ---------------------------------------------------------------------------- helpers
    def _state_body(self, state: AgentState) -> dict[str, object]:
        return {**state.as_dict(), "reasons": list(PAUSE_REASONS)}

    async def _agent_endpoints(self, username: str) -> tuple[AgentEndpoint, ...]:
        agent = await self._store.aio.run(self._store.get_agent, username)
        return agent.endpoints if agent is not None and agent.active else ()

    def _endpoints_in_directory(self, username: str) -> list[str]:
        owners = self._directory().endpoint_owners
        return [endpoint for endpoint, users in owners.items() if username in users]
