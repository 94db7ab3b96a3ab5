"""The admin console's site settings (the default region): read and change, admins only.

``GET /api/admin/site-settings`` shows the region in force, where it comes from (stored, the
configuration file, or the built-in default) and the regions to choose from; ``PUT`` with
``{"default_region": "US"}`` stores it (origin and CSRF checked, audited). Anyone else gets 403
before the body is read.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.principal import Action, require
from cti.site_settings import SiteSettings

__all__ = ["site_settings_routes"]


class _SiteSettingsApi:
    def __init__(self, settings: SiteSettings) -> None:
        self.settings = settings

    async def show(self, request: Request) -> Response:
        require(route_auth(request).session(request).principal, Action.ADMINISTER_PBX)
        return JSONResponse(self.settings.view(), headers=NO_STORE)

    async def change(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        require(principal, Action.ADMINISTER_PBX)
        body = await read_json(request)
        await self.settings.set_default_region(principal, body.get("default_region"))
        return JSONResponse(self.settings.view(), headers=NO_STORE)


def site_settings_routes(settings: SiteSettings) -> list[BaseRoute]:
    """The settings panel's routes, for the root to mount beside the admin API."""
    api = _SiteSettingsApi(settings)
    return [
        Route("/api/admin/site-settings", api.show, methods=["GET"]),
        Route("/api/admin/site-settings", api.change, methods=["PUT"]),
    ]
