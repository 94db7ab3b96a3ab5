"""The setup wizard's JSON API (admin console), mounted by the daemon beside the admin API.

Reads and writes need :attr:`Action.ADMINISTER_PBX`; writes also pass the origin and CSRF
checks (:func:`agent_ui.web.route_auth`). Users are added through the admin import API
(``/api/admin/imports``) and the configuration applied through ``/api/admin/config/apply``:
the wizard reuses them rather than having its own.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agent_ui.admin_access import admin_reader as _reader
from agent_ui.admin_access import admin_writer as _writer
from agent_ui.json_body import read_body, read_json
from agent_ui.responses import no_store_json as _json
from cti.site.service import SiteAdmin
from cti.site.values import LOA_MAX_BYTES

__all__ = ["site_routes"]

_FILENAME = re.compile(r"[^A-Za-z0-9._ -]")
_JSON_LIMIT = 2 * 1024 * 1024


class _SiteApi:
    def __init__(self, site: SiteAdmin) -> None:
        self.site = site

    async def state(self, request: Request) -> Response:
        _reader(request)
        return _json(await self.site.state())

    async def summary(self, request: Request) -> Response:
        _reader(request)
        return _json(await self.site.summary())

    async def step(self, request: Request) -> Response:
        actor = _writer(request)
        body = await read_json(request)
        await self.site.set_step(body.get("step"), actor.username)
        return _json({"ok": True})

    async def add_location(self, request: Request) -> Response:
        actor = _writer(request)
        key = await self.site.add_location(await read_json(request), actor.username)
        return _json({"id": key}, 201)

    async def add_numbers(self, request: Request) -> Response:
        actor = _writer(request)
        body = await read_json(request, _JSON_LIMIT)
        await self.site.add_numbers(body.get("numbers"), actor.username)
        return _json({"ok": True}, 201)

    async def upload_letter(self, request: Request) -> Response:
        actor = _writer(request)
        data = await read_body(request, LOA_MAX_BYTES)
        name = _FILENAME.sub("_", request.query_params.get("filename", "letter"))[:200]
        number = request.path_params["number"]
        await self.site.upload_letter(number, data, name, actor.username)
        return _json({"ok": True}, 201)

    async def add_devices(self, request: Request) -> Response:
        actor = _writer(request)
        body = await read_json(request, _JSON_LIMIT)
        shown = await self.site.add_devices(body.get("devices"), actor.username)
        return _json({"devices": shown}, 201)

    async def remove_device(self, request: Request) -> Response:
        actor = _writer(request)
        await self.site.remove_device(request.path_params["mac"], actor.username)
        return _json({"ok": True})


def site_routes(site: SiteAdmin) -> list[BaseRoute]:
    """The wizard's API routes, for ``create_app(routes=...)``."""
    api = _SiteApi(site)
    return [
        Route("/api/site", api.state, methods=["GET"]),
        Route("/api/site/summary", api.summary, methods=["GET"]),
        Route("/api/site/step", api.step, methods=["PUT"]),
        Route("/api/site/locations", api.add_location, methods=["POST"]),
        Route("/api/site/numbers", api.add_numbers, methods=["POST"]),
        Route("/api/site/numbers/{number}/letter", api.upload_letter, methods=["POST"]),
        Route("/api/site/devices", api.add_devices, methods=["POST"]),
        Route("/api/site/devices/{mac}", api.remove_device, methods=["DELETE"]),
    ]
