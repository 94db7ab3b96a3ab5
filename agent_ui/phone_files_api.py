"""Where desk phones fetch their configuration file (:mod:`cti.site.phone_server`).

``GET /provisioning/<file>`` answers an HTTP digest exchange (the phone's MAC and provisioning
secret); ``GET /provisioning/s/<secret>/<file>`` is the secret-path form for phones configured
with a URL only. Neither needs a session: the device proves itself on each request. Files are
never cached by anything in between (``cache-control: no-store``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.responses import NO_STORE
from cti.site.phone_server import FetchRequest, PhoneFileServer, ProvisioningChallenge

__all__ = ["phone_file_routes"]


def _target(request: Request) -> str:
    """The request target as the client sent it, which its digest answer names (RFC 7616)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    target = bytes(raw).decode("latin-1")
    return f"{target}?{bytes(query).decode('latin-1')}" if query else target


class _PhoneFiles:
    def __init__(self, server: PhoneFileServer) -> None:
        self._server = server

    async def _serve(self, request: Request, secret: str | None) -> Response:
        fetch = FetchRequest(
            file_name=request.path_params["file"],
            uri=_target(request),
            client=request.client.host if request.client else "unknown",
            https=request.url.scheme == "https",
            authorization=request.headers.get("authorization"),
            path_secret=secret,
            method=request.method,
        )
        try:
            served = await self._server.fetch(fetch)
        except ProvisioningChallenge as exc:
            headers = {**NO_STORE, "www-authenticate": exc.challenge}
            return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)
        return Response(served.body, media_type=served.media_type, headers=NO_STORE)

    async def by_digest(self, request: Request) -> Response:
        return await self._serve(request, None)

    async def by_secret_path(self, request: Request) -> Response:
        return await self._serve(request, request.path_params["secret"])


def phone_file_routes(server: PhoneFileServer) -> list[BaseRoute]:
    """The provisioning routes, for ``create_app(routes=...)``."""
    files = _PhoneFiles(server)
    return [
        Route("/provisioning/s/{secret}/{file}", files.by_secret_path, methods=["GET"]),
        Route("/provisioning/{file}", files.by_digest, methods=["GET"]),
    ]
