"""The PBX admin console's JSON API, mounted into the web app by the daemon.

Every API route takes the session the web app issued (:func:`agent_ui.web.route_auth`) and
requires :attr:`Action.ADMINISTER_PBX` (the admin role); state changes also pass the origin and
CSRF checks. The page (``/admin``, served by :mod:`agent_ui.web` with the other consoles) is
static HTML with ES modules (no inline code, strict CSP): they fill every value in with
``textContent``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agent_ui.admin_access import admin_reader as _reader
from agent_ui.admin_access import admin_writer as _writer
from agent_ui.json_body import read_body
from agent_ui.responses import NO_STORE
from agent_ui.responses import no_store_json as _json
from cti.admin.asterisk_config import AsteriskConfig
from cti.admin.dids import DidAdmin
from cti.admin.history import AdminHistory
from cti.admin.provisioning import Provisioning
from cti.admin.server_admin import ServerAdmin
from cti.admin.servers import ServerSpec
from cti.admin.services import AdminServices
from cti.admin.trunk_monitor import TrunkMonitor
from cti.errors import ValidationFailed

__all__ = ["admin_routes"]

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_JSON_LIMIT = 4 * 1024 * 1024
_FILENAME = re.compile(r"[^A-Za-z0-9._ -]")


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, _JSON_LIMIT)
    try:
        parsed = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed("the body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ValidationFailed("the body is a JSON object")
    return parsed


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} is required (text)", details={"field": key})
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    """A text field that may be left out, null or empty (all: not set)."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} is text", details={"field": key})
    return value


class _ServerApi:
    def __init__(self, servers: ServerAdmin) -> None:
        self.servers = servers

    async def list(self, request: Request) -> Response:
        _reader(request)
        return _json({"servers": self.servers.status()})

    @staticmethod
    def _spec(body: dict[str, Any]) -> ServerSpec:
        port = body.get("port", 5038)
        if not isinstance(port, int):
            raise ValidationFailed("port is a number", details={"port": str(port)[:20]})
        return ServerSpec(
            name=_text(body, "name"),
            host=_text(body, "host"),
            port=port,
            username=_text(body, "username"),
            secret=_text(body, "secret"),
            tls=bool(body.get("tls", False)),
            tls_ca_file=_optional_text(body, "tls_ca_file"),
            tls_verify=body.get("tls_verify", True) is not False,
        )

    async def add(self, request: Request) -> Response:
        actor = _writer(request)
        await self.servers.add(self._spec(await _body(request)), actor.username)
        return _json({"ok": True}, 201)

    async def update(self, request: Request) -> Response:
        actor = _writer(request)
        name = request.path_params["name"]
        await self.servers.update(name, self._spec(await _body(request)), actor.username)
        return _json({"ok": True})

    async def remove(self, request: Request) -> Response:
        actor = _writer(request)
        await self.servers.remove(request.path_params["name"], actor.username)
        return _json({"ok": True})


class _TrunkApi:
    def __init__(self, trunks: TrunkMonitor) -> None:
        self.trunks = trunks

    async def list(self, request: Request) -> Response:
        _reader(request)
        return _json({"trunks": self.trunks.status()})

    async def discover(self, request: Request) -> Response:
        _writer(request)
        await self.trunks.discover()
        return _json({"trunks": self.trunks.status()})


class _DidApi:
    def __init__(self, dids: DidAdmin) -> None:
        self.dids = dids

    async def list(self, request: Request) -> Response:
        _reader(request)
        return _json({"groups": await self.dids.dids()})

    async def create_group(self, request: Request) -> Response:
        actor = _writer(request)
        body = await _body(request)
        dids = body.get("dids", [])
        if not isinstance(dids, list) or not all(isinstance(d, str) for d in dids):
            raise ValidationFailed("dids is a list of numbers as text")
        template = body.get("template")
        if template is not None and not isinstance(template, str):
            raise ValidationFailed("template is text")
        await self.dids.create_group(_text(body, "name"), dids, template, actor.username)
        return _json({"ok": True}, 201)

    async def map_did(self, request: Request) -> Response:
        actor = _writer(request)
        body = await _body(request)
        group = body.get("group")
        if group is not None and not isinstance(group, str):
            raise ValidationFailed("group is a group name or null")
        await self.dids.map_did(request.path_params["did"], group or None, actor.username)
        return _json({"ok": True})


class _ProvisioningApi:
    def __init__(self, provisioning: Provisioning) -> None:
        self.provisioning = provisioning

    async def template(self, request: Request) -> Response:
        _reader(request)
        return _download(self.provisioning.template(), "agents-template.xlsx", _XLSX)

    async def export(self, request: Request) -> Response:
        _reader(request)
        kind = request.query_params.get("format", "xlsx")
        if kind not in ("xlsx", "csv"):
            raise ValidationFailed("format is xlsx or csv")
        data = await self.provisioning.export(kind)
        media = "text/csv; charset=utf-8" if kind == "csv" else _XLSX
        return _download(data, f"agents.{kind}", media)

    async def upload(self, request: Request) -> Response:
        actor = _writer(request)
        data = await read_body(request, self.provisioning.limits.max_bytes)
        name = _FILENAME.sub("_", request.query_params.get("filename", "upload"))[:120]
        session = await self.provisioning.upload(data, name, actor.username)
        return _json(session.as_dict(), 201)

    async def status(self, request: Request) -> Response:
        actor = _reader(request)
        return _json(self.provisioning.status(request.path_params["id"], actor.username))

    async def edit(self, request: Request) -> Response:
        actor = _writer(request)
        rows = (await _body(request)).get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValidationFailed("rows is a list of {row, cells}")
        session = await self.provisioning.edit(request.path_params["id"], rows, actor.username)
        return _json(session.as_dict(), 201)

    async def apply(self, request: Request) -> Response:
        actor = _writer(request)
        session = await self.provisioning.apply(request.path_params["id"], actor.username)
        return _json(session.as_dict(), 202 if session.state == "applying" else 422)

    async def reset_password(self, request: Request) -> Response:
        actor = _writer(request)
        username = request.path_params["username"]
        password = await self.provisioning.reset_password(username, actor.username)
        return _json({"username": username, "password": password})


class _ConfigApi:
    def __init__(self, config: AsteriskConfig) -> None:
        self.config = config

    async def preview(self, request: Request) -> Response:
        _reader(request)
        return _json(await self.config.preview())

    async def apply(self, request: Request) -> Response:
        actor = _writer(request)
        body = await _body(request)
        reload = body.get("reload", True) is not False
        return _json(await self.config.apply(actor.username, reload=reload))


class _AuditApi:
    def __init__(self, history: AdminHistory) -> None:
        self.history = history

    async def list(self, request: Request) -> Response:
        _reader(request)
        try:
            limit = max(1, min(1000, int(request.query_params.get("limit", "200"))))
        except ValueError as exc:
            raise ValidationFailed("limit is a number") from exc
        kind = request.query_params.get("kind") or None
        return _json({"events": await self.history.entries(limit, kind)})


def _download(data: bytes, filename: str, media: str) -> Response:
    headers = {**NO_STORE, "content-disposition": f'attachment; filename="{filename}"'}
    return Response(data, media_type=media, headers=headers)


def admin_routes(admin: AdminServices) -> list[BaseRoute]:
    """The admin console's API routes, for ``create_app(routes=...)``; each handler is given
    the one admin service it uses."""
    servers, trunks, dids = _ServerApi(admin.servers), _TrunkApi(admin.trunks), _DidApi(admin.dids)
    agents, config = _ProvisioningApi(admin.provisioning), _ConfigApi(admin.config)
    audit = _AuditApi(admin.history)
    return [
        Route("/api/admin/servers", servers.list, methods=["GET"]),
        Route("/api/admin/servers", servers.add, methods=["POST"]),
        Route("/api/admin/servers/{name}", servers.update, methods=["PUT"]),
        Route("/api/admin/servers/{name}", servers.remove, methods=["DELETE"]),
        Route("/api/admin/trunks", trunks.list, methods=["GET"]),
        Route("/api/admin/trunks/discover", trunks.discover, methods=["POST"]),
        Route("/api/admin/dids", dids.list, methods=["GET"]),
        Route("/api/admin/groups", dids.create_group, methods=["POST"]),
        Route("/api/admin/dids/{did}", dids.map_did, methods=["PUT"]),
        Route("/api/admin/agents/template.xlsx", agents.template, methods=["GET"]),
        Route("/api/admin/agents/export", agents.export, methods=["GET"]),
        Route("/api/admin/agents/{username}/password", agents.reset_password, methods=["POST"]),
        Route("/api/admin/imports", agents.upload, methods=["POST"]),
        Route("/api/admin/imports/{id}", agents.status, methods=["GET"]),
        Route("/api/admin/imports/{id}/rows", agents.edit, methods=["POST"]),
        Route("/api/admin/imports/{id}/apply", agents.apply, methods=["POST"]),
        Route("/api/admin/config", config.preview, methods=["GET"]),
        Route("/api/admin/config/apply", config.apply, methods=["POST"]),
        Route("/api/admin/audit", audit.list, methods=["GET"]),
    ]
