"""Single sign-on routes (:mod:`cti.accounts.oidc`).

``GET /login/oidc/options`` tells the sign-in card whether to show the button (and its label).
``GET /login/oidc`` sends the browser to the provider; what the answer must match (state, nonce,
PKCE verifier) stays here, keyed by a random value in a short-lived HttpOnly cookie, so only
the browser that started a sign-in can finish it (no login CSRF). ``GET /login/oidc/callback``
finishes it: the user's session starts (RouteAuth.sign_in) and the browser lands on the
console of their role.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.web import route_auth
from cti.accounts.oidc import OidcLogin, Pending
from cti.errors import AuthenticationRequired, NotFound

__all__ = ["oidc_routes"]

_NO_STORE = {"cache-control": "no-store"}
_COOKIE = "cti_oidc"
_PENDING_S = 600.0  # a sign-in at the provider must come back within this
_MAX_PENDING = 10_000
_HOME = {"agent": "/agent", "supervisor": "/supervisor", "admin": "/admin"}


class _Routes:
    def __init__(self, login: OidcLogin | None, label: str, secure: bool) -> None:
        self._login, self._label, self._secure = login, label, secure
        self._pending: OrderedDict[str, tuple[float, Pending]] = OrderedDict()

    async def options(self, request: Request) -> Response:
        body = {"enabled": self._login is not None, "label": self._label}
        return JSONResponse(body, headers=_NO_STORE)

    async def start(self, request: Request) -> Response:
        login = self._need()
        pending = await login.start()
        key = secrets.token_urlsafe(32)
        now = time.monotonic()
        self._pending[key] = (now + _PENDING_S, pending)
        while self._pending and (
            len(self._pending) > _MAX_PENDING or next(iter(self._pending.values()))[0] < now
        ):
            self._pending.popitem(last=False)
        response = RedirectResponse(pending.url, status_code=303, headers=_NO_STORE)
        response.set_cookie(
            _COOKIE,
            key,
            max_age=int(_PENDING_S),
            path="/login/oidc",
            secure=self._secure,
            httponly=True,
            samesite="lax",  # the provider's redirect back is a top-level GET
        )
        return response

    async def callback(self, request: Request) -> Response:
        login = self._need()
        entry = self._pending.pop(request.cookies.get(_COOKIE, ""), None)
        if entry is None or entry[0] < time.monotonic():
            raise AuthenticationRequired("this sign-in was not started here, or took too long")
        query = request.query_params
        if "error" in query:
            raise AuthenticationRequired(
                f"the sign-in provider refused: {query['error'][:80]}",
                details={"error": query["error"][:80]},
            )
        signed_in = await login.finish(entry[1], query.get("state", ""), query.get("code", ""))
        home = _HOME[str(signed_in.principal.role)]
        redirect = RedirectResponse(home, status_code=303, headers=_NO_STORE)
        session, response = await route_auth(request).sign_in(
            request, signed_in.principal, redirect
        )
        await login.remember(session.session_id, signed_in, session.expires_at)
        response.delete_cookie(_COOKIE, path="/login/oidc", secure=self._secure, httponly=True)
        return response

    def _need(self) -> OidcLogin:
        if self._login is None:
            raise NotFound("single sign-on is not set up here")
        return self._login


def oidc_routes(login: OidcLogin | None, label: str, *, secure_cookies: bool) -> list[BaseRoute]:
    """The sign-on routes; with ``login`` None they say it is off (the button stays hidden)."""
    routes = _Routes(login, label, secure_cookies)
    return [
        Route("/login/oidc/options", routes.options, methods=["GET"]),
        Route("/login/oidc", routes.start, methods=["GET"]),
        Route("/login/oidc/callback", routes.callback, methods=["GET"]),
    ]
