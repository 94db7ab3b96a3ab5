"""The browser phone's API: ``GET /api/phone/registration`` gives the signed-in agent the SIP
registration of their own browser phone (cti.webphone), uncached; nobody else's, ever.

A site without a browser phone, or an agent without an extension or SIP secret, gets 404
``phone.not_set_up`` with the reason; the page shows it and keeps its pops.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.web import route_auth
from cti.principal import Action, require
from cti.webphone import PhoneRegistration

__all__ = ["PhoneApi", "PhoneDirectory"]

_PRIVATE = {"cache-control": "no-store", "pragma": "no-cache"}


class PhoneDirectory(Protocol):
    """Where registrations come from (cti.webphone.WebPhones)."""

    async def registration(self, username: str) -> PhoneRegistration: ...


class PhoneApi:
    """The routes of the agent's browser phone."""

    def __init__(self, phones: PhoneDirectory) -> None:
        self._phones = phones

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/phone/registration", self.registration, methods=["GET"])]

    async def registration(self, request: Request) -> Response:
        """The caller's own registration: who asks is the session, never a parameter."""
        principal = route_auth(request).session(request).principal
        require(principal, Action.READ_SELF)
        found = await self._phones.registration(principal.username)
        return JSONResponse(found.as_dict(), headers=_PRIVATE)
