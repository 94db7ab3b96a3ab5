"""Signup links (:mod:`cti.site.signup`): the admin's routes to issue and revoke them, and the
routes the agent's browser walks through.

Admin: ``POST /api/site/signup-links`` (``{"users": [...], "valid_for_s": N}``; one link and QR
code per user, shown once) and ``DELETE /api/site/signup-links/{id}``, with the admin console's
session, origin and CSRF checks. Agent: ``GET /signup/{token}`` opens the link and binds it to
this browser (cookie ``cti_signup``, HttpOnly, SameSite=Strict, path ``/signup/``: a cross-site
request never carries it, which is the CSRF defence of the POST), ``POST .../password``, then
``GET .../device/{desktop|linphone|json}`` spends it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.web import route_auth
from cti.principal import Action, require
from cti.site.signup import SignupLinks

__all__ = ["signup_routes"]

COOKIE = "cti_signup"
_NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


class _SignupApi:
    def __init__(self, links: SignupLinks, secure_cookies: bool) -> None:
        self._links = links
        self._secure = secure_cookies

    async def issue(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        require(principal, Action.ADMINISTER_PBX)
        body = await read_json(request)
        issued = await self._links.issue(
            body.get("users"), body.get("valid_for_s"), principal.username
        )
        return _json({"links": issued}, 201)

    async def revoke(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        require(principal, Action.ADMINISTER_PBX)
        try:
            key = int(request.path_params["id"])
        except ValueError:
            return _json({"error": "not_found", "message": "no such link", "details": {}}, 404)
        await self._links.revoke(key, principal.username)
        return _json({"ok": True})

    async def open(self, request: Request) -> Response:
        token = request.path_params["token"]
        state, session = await self._links.open(token, request.cookies.get(COOKIE))
        reply = _json(state)
        reply.set_cookie(
            COOKIE, session, path="/signup/", httponly=True, samesite="strict",
            secure=self._secure, max_age=24 * 3600,
        )  # fmt: skip
        return reply

    async def password(self, request: Request) -> Response:
        body = await read_json(request)
        token = request.path_params["token"]
        await self._links.set_password(token, request.cookies.get(COOKIE), body.get("password"))
        return _json({"ok": True})

    async def device(self, request: Request) -> Response:
        token, kind = request.path_params["token"], request.path_params["kind"]
        body, media_type = await self._links.configure(token, request.cookies.get(COOKIE), kind)
        return Response(body, media_type=media_type, headers=_NO_STORE)


def signup_routes(links: SignupLinks, *, secure_cookies: bool) -> list[BaseRoute]:
    """The signup routes, for ``create_app(routes=...)``."""
    api = _SignupApi(links, secure_cookies)
    return [
        Route("/api/site/signup-links", api.issue, methods=["POST"]),
        Route("/api/site/signup-links/{id}", api.revoke, methods=["DELETE"]),
        Route("/signup/{token}", api.open, methods=["GET"]),
        Route("/signup/{token}/password", api.password, methods=["POST"]),
        Route("/signup/{token}/device/{kind}", api.device, methods=["GET"]),
    ]
