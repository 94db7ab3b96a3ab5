"""Signup links (:mod:`cti.site.signup`): the admin's routes to issue, list and revoke them, the
page and routes the agent's browser walks through, and the softphone's download.

Admin: ``POST /api/site/signup-links`` (``{"users": [...], "valid_for_s": N}``, or
``{"import": id, ...}`` for every agent an applied import created or updated; one link and QR
code per user, shown once), ``GET /api/site/signup-links`` and
``DELETE /api/site/signup-links/{id}``, with the admin console's session, origin and CSRF checks.

Agent: ``GET /signup/{token}`` is the page (static; it changes nothing, so a link preview
binds nothing). Its code ``POST``\\s ``.../open``, which binds the link to this browser (cookie
``cti_signup``, HttpOnly, SameSite=Strict, path ``/signup/``: a cross-site request never
carries it, which is the CSRF defence of these POSTs), then ``.../password``, then
``.../device/desktop`` (spends it) or ``.../device/mobile`` (a download token for the
softphone); ``GET .../state`` while the softphone fetches. The softphone: ``GET
/softphone/{download}/linphone.xml`` or ``.../account.json``, with no cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.responses import NO_STORE
from agent_ui.web import PAGES_DIR, route_auth
from cti.errors import ValidationFailed
from cti.principal import Action, require
from cti.site.signup import SignupLinks

__all__ = ["ImportedUsers", "signup_routes"]

COOKIE = "cti_signup"
_NO_STORE = {**NO_STORE, "referrer-policy": "no-referrer"}  # the link is in the URL
#: (import id, admin) -> the usernames that applied import created or updated.
ImportedUsers = Callable[[str, str], list[str]]


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def _no_imports(import_id: str, actor: str) -> list[str]:
    raise ValidationFailed("imports are not available here", details={"field": "import"})


class _SignupApi:
    def __init__(self, links: SignupLinks, secure_cookies: bool, imports: ImportedUsers) -> None:
        self._links = links
        self._secure = secure_cookies
        self._imports = imports
        self._page = (Path(PAGES_DIR) / "signup.html").read_text(encoding="utf-8")

    # ------------------------------------------------------------------------ admin
    async def issue(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        require(principal, Action.ADMINISTER_PBX)
        body = await read_json(request)
        users: Any = body.get("users")
        if "import" in body:
            import_id = body["import"]
            if not isinstance(import_id, str) or not 1 <= len(import_id) <= 64:
                raise ValidationFailed("import: an import's id", details={"field": "import"})
            users = self._imports(import_id, principal.username)
        issued = await self._links.issue(users, body.get("valid_for_s"), principal.username)
        return _json({"links": issued}, 201)

    async def listing(self, request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        require(principal, Action.ADMINISTER_PBX)
        return _json({"links": await self._links.listing()})

    async def revoke(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        require(principal, Action.ADMINISTER_PBX)
        try:
            key = int(request.path_params["id"])
        except ValueError:
            return _json({"error": "not_found", "message": "no such link", "details": {}}, 404)
        await self._links.revoke(key, principal.username)
        return _json({"ok": True})

    # ------------------------------------------------------------------------ agent
    async def page(self, request: Request) -> Response:
        return HTMLResponse(self._page, headers=_NO_STORE)

    async def open(self, request: Request) -> Response:
        token = request.path_params["token"]
        state, session = await self._links.open(token, request.cookies.get(COOKIE))
        reply = _json(state)
        reply.set_cookie(
            COOKIE, session, path="/signup/", httponly=True, samesite="strict",
            secure=self._secure, max_age=24 * 3600,
        )  # fmt: skip
        return reply

    async def state(self, request: Request) -> Response:
        token = request.path_params["token"]
        return _json(await self._links.state(token, request.cookies.get(COOKIE)))

    async def password(self, request: Request) -> Response:
        body = await read_json(request)
        token = request.path_params["token"]
        await self._links.set_password(token, request.cookies.get(COOKIE), body.get("password"))
        return _json({"ok": True})

    async def desktop(self, request: Request) -> Response:
        token = request.path_params["token"]
        return _json(await self._links.use_desktop(token, request.cookies.get(COOKIE)))

    async def mobile(self, request: Request) -> Response:
        token = request.path_params["token"]
        return _json(await self._links.offer_mobile(token, request.cookies.get(COOKIE)))

    # ------------------------------------------------------------------------ softphone
    async def document(self, request: Request) -> Response:
        kind = {"linphone.xml": "linphone", "account.json": "json"}.get(
            request.path_params["file"], ""
        )
        body, media_type = await self._links.fetch_document(request.path_params["download"], kind)
        return Response(body, media_type=media_type, headers=_NO_STORE)


def signup_routes(
    links: SignupLinks, *, secure_cookies: bool, imported_users: ImportedUsers | None = None
) -> list[BaseRoute]:
    """The signup routes, for ``create_app(routes=...)``; ``imported_users`` lets an admin
    issue links for every agent of an applied import."""
    api = _SignupApi(links, secure_cookies, imported_users or _no_imports)
    return [
        Route("/api/site/signup-links", api.issue, methods=["POST"]),
        Route("/api/site/signup-links", api.listing, methods=["GET"]),
        Route("/api/site/signup-links/{id}", api.revoke, methods=["DELETE"]),
        Route("/signup/{token}", api.page, methods=["GET"]),
        Route("/signup/{token}/open", api.open, methods=["POST"]),
        Route("/signup/{token}/state", api.state, methods=["GET"]),
        Route("/signup/{token}/password", api.password, methods=["POST"]),
        Route("/signup/{token}/device/desktop", api.desktop, methods=["POST"]),
        Route("/signup/{token}/device/mobile", api.mobile, methods=["POST"]),
        Route("/softphone/{download}/{file}", api.document, methods=["GET"]),
    ]
