"""Routes for supervisors' listen / whisper / barge (:mod:`cti.monitoring`).

``POST /api/monitor`` ``{"call_id", "mode"}`` rings the supervisor's phone and joins it to the
call (201); ``POST /api/monitor/{id}/mode`` ``{"mode"}`` switches; ``DELETE /api/monitor/{id}``
leaves; ``GET /api/monitor`` lists the supervisor's sessions. The service decides who may (403
for anyone but a supervisor of the call's group, before anything reaches the PBX).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json, required_text
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.monitoring import Mode, MonitorService
from cti.principal import Action, require

__all__ = ["monitoring_routes"]


def monitoring_routes(service: MonitorService) -> list[BaseRoute]:
    async def start(request: Request) -> Response:
        session = route_auth(request).check_write(request)
        require(session.principal, Action.SUPERVISE_GROUPS)  # before the body: 403, not 422
        body = await read_json(request)
        mode = Mode.parse(body.get("mode", "listen"))
        joined = await service.start(session.principal, required_text(body, "call_id", 128), mode)
        return JSONResponse(joined.as_dict(), status_code=201, headers=NO_STORE)

    async def switch(request: Request) -> Response:
        session = route_auth(request).check_write(request)
        require(session.principal, Action.SUPERVISE_GROUPS)  # before the body: 403, not 422
        body = await read_json(request)
        changed = await service.switch(
            session.principal, request.path_params["id"], Mode.parse(body.get("mode"))
        )
        return JSONResponse(changed.as_dict(), headers=NO_STORE)

    async def leave(request: Request) -> Response:
        session = route_auth(request).check_write(request)
        await service.leave(session.principal, request.path_params["id"])
        return JSONResponse({"ok": True}, headers=NO_STORE)

    async def mine(request: Request) -> Response:
        session = route_auth(request).session(request)
        sessions = [s.as_dict() for s in service.sessions_of(session.principal)]
        return JSONResponse({"sessions": sessions}, headers=NO_STORE)

    return [
        Route("/api/monitor", start, methods=["POST"]),
        Route("/api/monitor", mine, methods=["GET"]),
        Route("/api/monitor/{id}/mode", switch, methods=["POST"]),
        Route("/api/monitor/{id}", leave, methods=["DELETE"]),
    ]
