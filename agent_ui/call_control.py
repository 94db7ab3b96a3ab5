"""Call control from the desktop: hang up, blind transfer, attended transfer.

An agent acts only on a call their own phone is on: the tracker's ``channels_of(call_id)`` must
hold a live channel of one of the agent's endpoints, and that channel is the one the AMI action
names. Transfer targets pass the same dial rules as click-to-dial (an internal extension, or an
E.164 number that is not blocked) and enter the transfer context (``[dial] transfer_context``),
which checks them again and never gives the transferred caller DTMF transfer features.

An attended transfer (AMI ``Atxfer``) puts the caller on hold and rings the target from the
agent's phone; hanging up then completes it (Asterisk's ``atxferdropcall`` default), so
"complete" is a hang-up of the agent's channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent_ui.json_body import read_json, required_text
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.core.updates import CallView
from cti.dial_rules import DialRules
from cti.errors import NotFound, ValidationFailed
from cti.principal import Action, Principal, require

__all__ = ["CallCommands", "CallControl", "CallLookup"]

log = logging.getLogger(__name__)

TransferKind = Literal["blind", "attended"]


class CallCommands(Protocol):
    """The AMI actions call control uses (``AsteriskCommands`` implements them)."""

    async def hangup(self, channel: str, cause: int = 16) -> object: ...
    async def blind_transfer(self, channel: str, context: str, exten: str) -> object: ...
    async def attended_transfer(
        self, channel: str, exten: str, context: str | None = None
    ) -> object: ...


class CallLookup(Protocol):
    """What call control reads from the call tracker."""

    def active_calls(self) -> list[CallView]: ...
    def channels_of(self, call_id: str) -> dict[str, str]: ...


class CallControl:
    """Hang up and transfer calls the requesting agent's phone is on."""

    def __init__(
        self,
        tracker: CallLookup,
        servers: Mapping[str, CallCommands],
        endpoints_of: Callable[[str], Sequence[str]],
        rules: DialRules,
        context: str,
    ) -> None:
        self._tracker = tracker
        self._servers = servers  # read at each use: it follows servers added at runtime
        self._endpoints_of = endpoints_of
        self._rules = rules
        self._context = context

    async def hangup(self, principal: Principal, call_id: str) -> None:
        """Hang up the agent's own leg (which also completes an attended transfer)."""
        server, channel = self._own_channel(principal, call_id)
        await server.hangup(channel)
        log.info("%s hung up %s (%s)", principal.username, call_id, channel)

    async def transfer(
        self, principal: Principal, call_id: str, target: str, kind: TransferKind
    ) -> str:
        """Transfer the caller to ``target``; return the number it was sent to."""
        server, channel = self._own_channel(principal, call_id)
        number = self._rules.check(target).number
        if kind == "blind":
            await server.blind_transfer(channel, self._context, number)
        else:
            await server.attended_transfer(channel, number, self._context)
        log.info("%s: %s transfer of %s to %s", principal.username, kind, call_id, number)
        return number

    # ---------------------------------------------------------------------------- routes
    async def hangup_endpoint(self, request: Request) -> Response:
        """``POST /api/calls/hangup`` ``{"call_id"}``."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.CONTROL_CALL)  # before the body: 403, not 422
        body = await read_json(request)
        await self.hangup(session.principal, required_text(body, "call_id", 128))
        return JSONResponse({"ok": True}, headers=NO_STORE)

    async def transfer_endpoint(self, request: Request) -> Response:
        """``POST /api/calls/transfer`` ``{"call_id", "target", "kind": "blind"|"attended"}``."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.CONTROL_CALL)  # before the body: 403, not 422
        body = await read_json(request)
        kind = body.get("kind", "blind")
        if kind not in ("blind", "attended"):
            raise ValidationFailed("kind is blind or attended", details={"field": "kind"})
        number = await self.transfer(
            session.principal,
            required_text(body, "call_id", 128),
            required_text(body, "target", 64),
            "blind" if kind == "blind" else "attended",
        )
        return JSONResponse({"ok": True, "target": number, "kind": kind}, headers=NO_STORE)

    # ---------------------------------------------------------------------------- helpers
    def _own_channel(self, principal: Principal, call_id: str) -> tuple[CallCommands, str]:
        """The server and the agent's live channel on ``call_id``; NotFound if they have none."""
        require(principal, Action.CONTROL_CALL)
        view = next((c for c in self._tracker.active_calls() if c.call_id == call_id), None)
        channels = self._tracker.channels_of(call_id) if view is not None else {}
        mine = self._endpoints_of(principal.username)
        channel = next(
            (
                name
                for name in channels.values()
                for endpoint in mine
                if name.startswith(endpoint + "-")
            ),
            None,
        )
        server = self._servers.get(view.server) if view is not None else None
        if channel is None or server is None:
            raise NotFound(
                "you are not on this call (it ended, or it is someone else's)",
                details={"call_id": call_id[:128]},
            )
        return server, channel
