"""Test calls from the consoles: ``POST /api/agent/test-call`` ("Ring me a test call", the
agent desktop) and ``POST /api/supervisor/simulate-call`` ("Simulate a call", the supervisor
console). The service (cti.webphone.test_calls) checks who may place which call; here only the
write's origin and CSRF checks, and the body. Both answer 202 once the PBX has the call.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.principal import Principal
from cti.webphone.test_calls import TestCallStarted

__all__ = ["TestCallApi", "TestCallPlacer"]


class TestCallPlacer(Protocol):
    """What the routes need (cti.webphone.test_calls.TestCalls)."""

    async def ring_me(self, principal: Principal) -> TestCallStarted: ...

    async def simulate(
        self, principal: Principal, group: object, did: object, caller: object
    ) -> TestCallStarted: ...


class TestCallApi:
    """The routes of test calls."""

    __test__ = False  # not a pytest class

    def __init__(self, calls: TestCallPlacer) -> None:
        self._calls = calls

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/agent/test-call", self.ring_me, methods=["POST"]),
            Route("/api/supervisor/simulate-call", self.simulate, methods=["POST"]),
        ]

    async def ring_me(self, request: Request) -> Response:
        """Ring the signed-in user's own phone: no body needed (an empty JSON object)."""
        session = route_auth(request).check_write(request)
        started = await self._calls.ring_me(session.principal)
        return JSONResponse(started.as_dict(), status_code=202, headers=NO_STORE)

    async def simulate(self, request: Request) -> Response:
        """``?group=Sales`` (as every supervisor route) and ``{"did": null, "caller":
        {"number": ...} | {"unknown": true}}``."""
        session = route_auth(request).check_write(request)
        group = request.query_params.get("group")
        body = await read_json(request)
        started = await self._calls.simulate(
            session.principal, group, body.get("did"), body.get("caller")
        )
        return JSONResponse(started.as_dict(), status_code=202, headers=NO_STORE)
