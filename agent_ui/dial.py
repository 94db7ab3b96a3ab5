"""Click-to-dial: ``POST /api/dial`` rings the agent's own phone, then dials the number.

Every check happens before the PBX is asked anything: a same-site request with the session's
CSRF token (RouteAuth), the role's grant (before the body is read), a well-formed body (422
naming ``number``), the dial rules (:mod:`cti.dial_rules`: only E.164 or
an internal extension, no blocked prefix), then the agent's rate limit. Only then one
AMI ``Originate`` of the agent's *own* endpoint into the click-to-dial context, with
``__CTI_ORIGINATE_ID`` set so the call's every channel carries it. The outcome of ringing the
agent's phone (``OriginateResponse``) reaches the agent's page as a ``dial_status`` message.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent_ui import messages
from agent_ui.json_body import read_json
from agent_ui.protocol import Outgoing
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.config import DialSettings
from cti.core.events import WEBRTC_SUFFIX, OriginateResponded
from cti.dial_rules import DialLimiter, DialRules, DialTarget, display_number
from cti.errors import AmiConnectionLost, DialRefused, ValidationFailed
from cti.principal import Action, Principal, require
from cti.store.values import AgentEndpoint

__all__ = ["DialStarted", "Dialer", "Originator"]

log = logging.getLogger(__name__)

_FIELD: dict[str, object] = {"field": "number"}
_MAX_NUMBER = 64
# OriginateResponse ``Reason`` codes (Asterisk's enum ast_control_frame_type subset it reports).
_REASONS = {0: "the call failed", 1: "your phone hung up", 3: "your phone did not answer"}
_REASONS |= {5: "your phone is busy", 8: "the network is congested"}


class Originator(Protocol):
    """The PBX command dialing needs (the Asterisk adapter's ``AsteriskCommands``)."""

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


EndpointsOf = Callable[[str], Awaitable[tuple[AgentEndpoint, ...]]]
Notify = Callable[[str, Outgoing], object]


@dataclass(frozen=True, slots=True)
class DialStarted:
    originate_id: str
    number: str
    display: str
    endpoint: str

    def as_dict(self) -> dict[str, object]:
        return {
            "originate_id": self.originate_id,
            "number": self.number,
            "display": self.display,
            "endpoint": self.endpoint,
        }


class Dialer:
    """Turn an agent's dial request into one Originate of their own phone, or a refusal."""

    def __init__(
        self,
        settings: DialSettings,
        rules: DialRules,
        servers: Mapping[str, Originator],
        endpoints_of: EndpointsOf,
        notify: Notify,
        *,
        limiter: DialLimiter | None = None,
    ) -> None:
        self._settings = settings
        self.rules = rules
        self._servers = servers  # read at each dial: servers an admin adds count at once
        self._endpoints_of = endpoints_of
        self._notify = notify
        self._limiter = limiter or DialLimiter(settings.max_per_window, settings.window_s)
        self._pending: OrderedDict[str, tuple[str, str, str]] = OrderedDict()  # action id ->

    async def dial(
        self, principal: Principal, raw_number: object, phone: object = None
    ) -> DialStarted:
        """Check everything, then originate; raise DialRefused / RateLimited / AmiError.

        ``phone`` ``"browser"`` rings the agent's browser phone (``<endpoint>-webrtc``, whose
        page answers it by itself) instead of the desk phone.
        """
        require(principal, Action.DIAL)
        if phone not in (None, "desk", "browser"):
            raise ValidationFailed('phone is "desk" or "browser"', details={"field": "phone"})
        target = self.rules.check(_number_field(raw_number))
        self._limiter.take(principal.username)  # counts what would reach the PBX
        endpoint = await self._own_endpoint(principal.username)
        if phone == "browser":
            endpoint = _browser_phone(endpoint)
        server = self._server_for(endpoint)
        originate_id = uuid.uuid4().hex[:20]
        action_id = f"cti-dial-{originate_id}"
        self._remember(action_id, principal.username, originate_id, target.number)
        try:
            await server.originate(
                endpoint.endpoint,
                self._settings.context,
                target.number,
                caller_id=_caller_id(target),
                variables=_variables(originate_id, target),
                timeout_s=self._settings.ring_timeout_s,
                action_id=action_id,
            )
        except AmiConnectionLost as exc:
            # Asterisk may have taken the Originate before the link dropped: the agent's phone
            # may still ring, and its OriginateResponse (on the next link) still reaches them.
            log.warning(
                "%s: dial to %s in flight when AMI dropped", principal.username, target.number
            )
            raise AmiConnectionLost(
                "the connection to the PBX dropped while placing the call: your phone may still "
                "ring, so wait a moment before dialling again",
                details={"originate_id": originate_id},
            ) from exc
        except BaseException:
            self._pending.pop(action_id, None)
            raise
        log.info("%s dials %s from %s", principal.username, target.number, endpoint.endpoint)
        display = display_number(target.number)
        return DialStarted(originate_id, target.number, display, endpoint.endpoint)

    def on_originate_response(self, event: OriginateResponded) -> None:
        """Tell the agent whether their phone took the call (it rang, then answered or not)."""
        entry = self._pending.pop(event.action_id, None)
        if entry is None:
            return
        agent, originate_id, number = entry
        if event.success:
            message = messages.dial_status(originate_id, number, messages.DialOutcome.ANSWERED)
        else:
            why = _REASONS.get(event.reason, "the call failed")
            message = messages.dial_status(originate_id, number, messages.DialOutcome.FAILED, why)
        self._notify(agent, message)

    async def endpoint(self, request: Request) -> Response:
        """``POST /api/dial`` ``{"number": "..."}`` -> 202 and the originate id."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.DIAL)  # the role before the body
        body = await read_json(request)
        started = await self.dial(session.principal, body.get("number"), body.get("phone"))
        return JSONResponse(started.as_dict(), status_code=202, headers=NO_STORE)

    async def _own_endpoint(self, username: str) -> AgentEndpoint:
        endpoints = await self._endpoints_of(username)
        if not endpoints:
            raise DialRefused(
                "you have no phone to dial from; ask an administrator to assign one",
                details={"reason": "no_phone"},
            )
        return endpoints[0]

    def _server_for(self, endpoint: AgentEndpoint) -> Originator:
        if endpoint.server is None:
            server = next(iter(self._servers.values()), None)  # the first there is
            if server is None:
                raise DialRefused(
                    "this daemon reaches no PBX server now", details={"reason": "no_server"}
                )
            return server
        server = self._servers.get(endpoint.server)
        if server is None:
            raise DialRefused(
                f"your phone is on server {endpoint.server!r}, which this daemon does not reach",
                details={"reason": "no_server", "server": endpoint.server},
            )
        return server

    def _remember(self, action_id: str, agent: str, originate_id: str, number: str) -> None:
        self._pending[action_id] = (agent, originate_id, number)
        while len(self._pending) > 10_000:
            self._pending.popitem(last=False)


def _number_field(raw: object) -> str:
    """The body's ``number``: text of 1 to 64 characters, else a 422 naming the field (a
    malformed request, not a number the dial rules refuse)."""
    if not isinstance(raw, str):
        raise ValidationFailed("number is required: the number to dial, as text", details=_FIELD)
    if not raw.strip() or len(raw) > _MAX_NUMBER:
        raise ValidationFailed(
            f"number must be 1 to {_MAX_NUMBER} characters", details=_FIELD | {"limit": 64}
        )
    return raw


def _browser_phone(endpoint: AgentEndpoint) -> AgentEndpoint:
    """The browser phone of a ``PJSIP/<ext>`` desk phone (asterisk-config/pjsip.conf)."""
    if not endpoint.endpoint.startswith("PJSIP/"):
        raise DialRefused(
            "your phone has no browser phone on this PBX", details={"reason": "no_browser_phone"}
        )
    return AgentEndpoint(endpoint.endpoint + WEBRTC_SUFFIX, endpoint.server)


def _variables(originate_id: str, target: DialTarget) -> dict[str, str]:
    """The Originate's channel variables: the id the CTI follows the call by and, for a number
    with an extension, ``CTI_DIAL_DTMF``, which `cti-outbound` sends once the far end answers
    (Dial's ``D()`` option; asterisk-config/extensions.conf)."""
    variables = {"__CTI_ORIGINATE_ID": originate_id}
    if target.extension:
        variables["CTI_DIAL_DTMF"] = target.extension
    return variables


def _caller_id(target: DialTarget) -> str:
    """What the agent's phone shows while it rings: the number about to be dialled."""
    return f'"Dial {display_number(target.number)}" <{target.number}>'
