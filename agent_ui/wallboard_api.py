"""The wallboard's JSON API (the page itself is served by :mod:`agent_ui.web`'s page table).

``GET /api/supervisor/wallboard?group=`` answers the board the ``wallboard`` frame carries
(admins, who open no websocket, poll it); ``PUT /api/supervisor/wallboard/thresholds?group=``
replaces the group's alert thresholds (origin and CSRF checked). Both are for the group's
supervisors and admins (403 otherwise); a bad body is 422 naming the field. docs/supervisor.md
lists them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.errors import ValidationFailed
from cti.supervision.board import Wallboards

__all__ = ["wallboard_routes"]

MAX_BODY = 4096


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


def _group(request: Request) -> str:
    name = request.query_params.get("group", "")
    if not name or len(name) > 64:
        raise ValidationFailed("name the group: ?group=...", details={"field": "group"})
    return name


def wallboard_routes(boards: Wallboards) -> list[BaseRoute]:
    """The wallboard's read and its thresholds' write."""

    async def board(request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        return _json(await boards.board(principal, _group(request)))

    async def set_thresholds(request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        group = _group(request)
        body = await read_json(request, MAX_BODY)
        return _json(await boards.set_thresholds(principal, group, body))

    return [
        Route("/api/supervisor/wallboard", board, methods=["GET"]),
        Route("/api/supervisor/wallboard/thresholds", set_thresholds, methods=["PUT"]),
    ]
