"""The agent's missed calls: ``GET /api/agent/missed-calls`` (the list, newest first, and the
unseen count) and ``POST /api/agent/missed-calls/seen`` (``{"ids": [...]}`` or
``{"all": true}``). The service (cti.missed_calls) checks who may; the list is always the
session's own, never a parameter's.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.web import route_auth
from cti.missed_calls import MissedCallList
from cti.principal import Principal

__all__ = ["MissedCallBook", "missed_call_routes"]

_PRIVATE = {"cache-control": "no-store"}


class MissedCallBook(Protocol):
    """What the routes need (cti.missed_calls.MissedCalls)."""

    async def list_of(self, principal: Principal) -> MissedCallList: ...

    async def mark_seen(self, principal: Principal, ids: object, everything: object) -> int: ...


def missed_call_routes(book: MissedCallBook) -> list[BaseRoute]:
    """The routes of the agent's missed-calls list."""

    async def listing(request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        found = await book.list_of(principal)
        return JSONResponse(found.as_dict(), headers=_PRIVATE)

    async def seen(request: Request) -> Response:
        session = route_auth(request).check_write(request)
        body = await read_json(request)
        unseen = await book.mark_seen(session.principal, body.get("ids"), body.get("all"))
        return JSONResponse({"unseen": unseen}, headers=_PRIVATE)

    return [
        Route("/api/agent/missed-calls", listing, methods=["GET"]),
        Route("/api/agent/missed-calls/seen", seen, methods=["POST"]),
    ]
