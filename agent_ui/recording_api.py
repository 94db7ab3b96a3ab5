"""Routes for call recordings (:mod:`cti.recording`).

``GET /api/recordings/{id}`` serves the file to a user allowed to hear the call (the agent who
took it, the supervisors of its group) with HTTP range requests (Starlette's ``FileResponse``
answers ``Range`` with 206), so the page's audio element seeks; ``?download=1`` makes it an
attachment; both are audited. ``GET /api/recordings?call_id=`` lists a call's recordings the
user may hear (the call history links them), ``?group=`` a supervisor's group's latest 50;
``POST /api/recordings/pause`` and ``/resume``
``{"call_id"}`` are the agent's; ``GET``/``PUT /api/supervisor/recording-policy?group=`` the
supervisors' of the group and the admins'.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json, required_text
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.errors import ValidationFailed
from cti.principal import Action, require
from cti.recording import RecordingService

__all__ = ["recording_routes"]


def _group(request: Request) -> str:
    return request.query_params.get("group", "")[:64]


def recording_routes(service: RecordingService) -> list[BaseRoute]:
    async def play(request: Request) -> Response:
        session = route_auth(request).session(request)
        download = request.query_params.get("download") == "1"
        path = await service.file_for(
            session.principal, request.path_params["id"], download=download
        )
        return FileResponse(
            path,
            media_type="audio/wav",
            filename=path.name if download else None,
            content_disposition_type="attachment" if download else "inline",
            headers={"cache-control": "private, no-store"},
        )

    async def of_call(request: Request) -> Response:
        session = route_auth(request).session(request)
        if "group" in request.query_params:  # a supervisor's list of the group's latest
            group = request.query_params["group"][:64]
            latest = await service.recent(session.principal, group)
            return JSONResponse({"recordings": [r.as_dict() for r in latest]}, headers=NO_STORE)
        call_id = request.query_params.get("call_id", "")
        if not call_id or len(call_id) > 128:
            raise ValidationFailed("call_id is required", details={"field": "call_id"})
        found = await service.of_call(session.principal, call_id)
        return JSONResponse({"recordings": [r.as_dict() for r in found]}, headers=NO_STORE)

    def pauser(paused: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = route_auth(request).check_write(request)
            require(session.principal, Action.CONTROL_CALL)
            body = await read_json(request)
            row = await service.pause(
                session.principal, required_text(body, "call_id", 128), paused
            )
            return JSONResponse(row.as_dict(), headers=NO_STORE)

        return endpoint

    async def get_policy(request: Request) -> Response:
        session = route_auth(request).session(request)
        policy = await service.policy_for(session.principal, _group(request))
        return JSONResponse(policy.as_dict(), headers=NO_STORE)

    async def put_policy(request: Request) -> Response:
        session = route_auth(request).check_write(request)
        group = _group(request)
        await service.check_reach(session.principal, group)  # the role before the body
        body = await read_json(request)
        policy = await service.set_policy(session.principal, group, dict(body))
        return JSONResponse(policy.as_dict(), headers=NO_STORE)

    return [
        Route("/api/recordings", of_call, methods=["GET"]),
        Route("/api/recordings/pause", pauser(True), methods=["POST"]),
        Route("/api/recordings/resume", pauser(False), methods=["POST"]),
        Route("/api/recordings/{id}", play, methods=["GET"]),
        Route("/api/supervisor/recording-policy", get_policy, methods=["GET"]),
        Route("/api/supervisor/recording-policy", put_policy, methods=["PUT"]),
    ]
