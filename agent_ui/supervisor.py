"""The supervisor console's JSON API (mounted through ``create_app(routes=...)``; the page and
its modules are served by :mod:`agent_ui.web` with the other consoles).

Every route takes the web app's session (:func:`agent_ui.web.route_auth`); state changes also
pass its origin and CSRF checks. Who may touch which group is decided by
:class:`~cti.supervision.console.SupervisorConsole` (403 for a group the supervisor does
not own). Groups are named in the query string (``?group=``): a name may hold any character.
docs/supervisor.md lists the routes.
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
from cti.principal import Principal
from cti.supervision.console import SupervisorConsole

__all__ = ["supervisor_routes"]

MAX_BODY = 512 * 1024  # a 64 KiB template, JSON-escaped at worst, and its settings


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def _body(request: Request) -> dict[str, Any]:
    return await read_json(request, MAX_BODY)


def _group(request: Request) -> str:
    name = request.query_params.get("group", "")
    if not name or len(name) > 64:
        raise ValidationFailed("name the group: ?group=...", details={"field": "group"})
    return name


def _number(text: str, field: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise ValidationFailed(f"{field} is a version number", details={"field": field})
    return int(text)


def _source(body: dict[str, Any]) -> str | None:
    source = body.get("source")
    if source is not None and not isinstance(source, str):
        raise ValidationFailed("source is text, or null for the standard template")
    return source


class _Routes:
    def __init__(self, console: SupervisorConsole) -> None:
        self.console = console

    @staticmethod
    def reader(request: Request) -> Principal:
        return route_auth(request).session(request).principal

    @staticmethod
    def writer(request: Request) -> Principal:
        return route_auth(request).check_write(request).principal

    async def owned_group(self, principal: Principal, request: Request) -> str:
        """The ``?group=`` named, once ``principal`` is known to supervise it (403 / 404 first:
        nobody learns what another group's versions would accept)."""
        name = _group(request)
        await self.console.group(principal, name)
        return name

    # ------------------------------------------------------------------------ groups
    async def overview(self, request: Request) -> Response:
        return _json(await self.console.overview(self.reader(request)))

    async def create_group(self, request: Request) -> Response:
        principal = self.writer(request)
        info = await self.console.create_group(principal, await _body(request))
        return _json({"group": info.name}, 201)

    async def update_group(self, request: Request) -> Response:
        principal = self.writer(request)
        info = await self.console.update_group(principal, _group(request), await _body(request))
        return _json({"group": info.name})

    async def delete_group(self, request: Request) -> Response:
        principal = self.writer(request)
        await self.console.delete_group(principal, _group(request))
        return Response(status_code=204, headers=NO_STORE)

    # ------------------------------------------------------------------------ templates
    async def templates(self, request: Request) -> Response:
        return _json(await self.console.templates(self.reader(request), _group(request)))

    async def version(self, request: Request) -> Response:
        principal = self.reader(request)
        group = await self.owned_group(principal, request)
        number = _number(request.path_params["number"], "number")
        return _json(await self.console.version(principal, group, number))

    async def save(self, request: Request) -> Response:
        principal = self.writer(request)
        group = await self.owned_group(principal, request)
        body = await _body(request)
        note = body.get("note", "")
        if not isinstance(note, str):
            raise ValidationFailed("note is text", details={"field": "note"})
        saved = await self.console.save(
            principal, group, _source(body), body.get("settings", {}), note.strip()
        )
        return _json(saved, 201)

    async def publish(self, request: Request) -> Response:
        principal = self.writer(request)
        group = await self.owned_group(principal, request)
        number = _number(request.path_params["number"], "number")
        return _json(await self.console.publish(principal, group, number))

    async def rollback(self, request: Request) -> Response:
        principal = self.writer(request)
        group = await self.owned_group(principal, request)
        number = _number(request.path_params["number"], "number")
        return _json(await self.console.rollback(principal, group, number), 201)

    async def diff(self, request: Request) -> Response:
        principal = self.reader(request)
        group = await self.owned_group(principal, request)
        old = _number(request.query_params.get("from", ""), "from")
        new = _number(request.query_params.get("to", ""), "to")
        text = await self.console.diff(principal, group, old, new)
        return _json({"from": old, "to": new, "diff": text})

    async def preview(self, request: Request) -> Response:
        principal = self.writer(request)  # a POST (the draft is the body): CSRF-checked
        body = await _body(request)
        sample, number = body.get("sample"), body.get("number")
        if sample is not None and not isinstance(sample, str):
            raise ValidationFailed("sample is none, one or several", details={"field": "sample"})
        if number is not None and (not isinstance(number, str) or len(number) > 40):
            raise ValidationFailed("number is a phone number", details={"field": "number"})
        result = await self.console.preview(
            principal,
            _group(request),
            _source(body),
            body.get("settings", {}),
            sample=sample,
            number=number or None,
        )
        return _json(result)

    # ------------------------------------------------------------------------ live, audit
    async def live(self, request: Request) -> Response:
        return _json(await self.console.live(self.reader(request), _group(request)))

    async def history(self, request: Request) -> Response:
        events = await self.console.history(self.reader(request), _group(request))
        return _json({"events": events})


def supervisor_routes(console: SupervisorConsole) -> list[BaseRoute]:
    """The JSON API of the supervisor console."""
    r = _Routes(console)
    return [
        Route("/api/supervisor", r.overview, methods=["GET"]),
        Route("/api/supervisor/groups", r.create_group, methods=["POST"]),
        Route("/api/supervisor/group", r.update_group, methods=["PUT"]),
        Route("/api/supervisor/group", r.delete_group, methods=["DELETE"]),
        Route("/api/supervisor/templates", r.templates, methods=["GET"]),
        Route("/api/supervisor/versions", r.save, methods=["POST"]),
        Route("/api/supervisor/versions/{number}", r.version, methods=["GET"]),
        Route("/api/supervisor/versions/{number}/publish", r.publish, methods=["POST"]),
        Route("/api/supervisor/versions/{number}/rollback", r.rollback, methods=["POST"]),
        Route("/api/supervisor/diff", r.diff, methods=["GET"]),
        Route("/api/supervisor/preview", r.preview, methods=["POST"]),
        Route("/api/supervisor/live", r.live, methods=["GET"]),
        Route("/api/supervisor/history", r.history, methods=["GET"]),
    ]
