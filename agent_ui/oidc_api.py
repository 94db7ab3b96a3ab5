"""Single sign-on routes (:mod:`cti.accounts.oidc`).

``GET /login/oidc/options`` tells the sign-in card whether to show the button (and its label).
``GET /login/oidc`` sends the browser to the provider; what the answer must match (state, nonce,
PKCE verifier) is kept in the store (:mod:`cti.accounts.oidc_pending`, so any daemon process may
get the answer), keyed by a random value in a short-lived HttpOnly cookie: only the browser that
started a sign-in can finish it (no login CSRF). ``GET /login/oidc/callback`` finishes it: the
user's session starts (RouteAuth.sign_in) and the browser lands on the console of their role.
A sign-in that fails there goes back to the sign-in card, which says why: the message travels
sealed in a one-use cookie that ``/login/oidc/options`` reads and clears.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.accounts.oidc import OidcLogin
from cti.errors import AuthenticationRequired, CtiError, NotFound, StoreError
from cti.secretbox import SecretBox

__all__ = ["oidc_routes"]

_COOKIE = "cti_oidc"
_ERROR_COOKIE = "cti_oidc_error"
_PENDING_S = 600  # a sign-in at the provider must come back within this
_FAILED_LANDING = "/agent"  # every console's page shows the sign-in card when signed out
_HOME = {"agent": "/agent", "supervisor": "/supervisor", "admin": "/admin"}


log = logging.getLogger(__name__)


class _Routes:
    def __init__(
        self, login: OidcLogin | None, label: str, secure: bool, box: SecretBox | None
    ) -> None:
        self._login, self._label, self._secure, self._box = login, label, secure, box

    async def options(self, request: Request) -> Response:
        body: dict[str, object] = {"enabled": self._login is not None, "label": self._label}
        failed = self._failure(request.cookies.get(_ERROR_COOKIE, ""))
        if failed:
            body["error"] = failed
        response = JSONResponse(body, headers=NO_STORE)
        if _ERROR_COOKIE in request.cookies:  # said once
            response.delete_cookie(_ERROR_COOKIE, path="/login/oidc", secure=self._secure)
        return response

    async def start(self, request: Request) -> Response:
        login = self._need()
        pending = await login.start()
        key = await login.pending.keep(pending)
        response = RedirectResponse(pending.url, status_code=303, headers=NO_STORE)
        response.set_cookie(
            _COOKIE,
            key,
            max_age=_PENDING_S,
            path="/login/oidc",
            secure=self._secure,
            httponly=True,
            samesite="lax",  # the provider's redirect back is a top-level GET
        )
        return response

    async def callback(self, request: Request) -> Response:
        login = self._need()
        try:
            return await self._finish(request, login)
        except CtiError as exc:  # back to the sign-in card, which says why
            log.info("single sign-on failed: %s (%s)", exc.message, exc.error_id)
            response = RedirectResponse(_FAILED_LANDING, status_code=303, headers=NO_STORE)
            response.delete_cookie(_COOKIE, path="/login/oidc", secure=self._secure, httponly=True)
            if self._box is not None:
                response.set_cookie(
                    _ERROR_COOKIE,
                    self._box.seal(f"Single sign-on failed: {exc.message}"),
                    max_age=120,
                    path="/login/oidc",
                    secure=self._secure,
                    httponly=True,
                    samesite="lax",
                )
            return response

    async def _finish(self, request: Request, login: OidcLogin) -> Response:
        pending = await login.pending.take(request.cookies.get(_COOKIE, ""))
        query = request.query_params
        if "error" in query:
            raise AuthenticationRequired(
                f"the sign-in provider refused: {query['error'][:80]}",
                details={"error": query["error"][:80]},
            )
        signed_in = await login.finish(pending, query.get("state", ""), query.get("code", ""))
        home = _HOME[str(signed_in.principal.role)]
        redirect = RedirectResponse(home, status_code=303, headers=NO_STORE)
        session, response = await route_auth(request).sign_in(
            request, signed_in.principal, redirect
        )
        await login.remember(session.session_id, signed_in, session.expires_at)
        response.delete_cookie(_COOKIE, path="/login/oidc", secure=self._secure, httponly=True)
        return response

    def _failure(self, sealed: str) -> str | None:
        """The message of a failed sign-in this daemon sealed (anything else: none)."""
        if self._box is None or not SecretBox.is_sealed(sealed):
            return None
        try:
            return self._box.open(sealed)[:300]
        except StoreError:  # not ours (another key, tampered)
            return None

    def _need(self) -> OidcLogin:
        if self._login is None:
            raise NotFound("single sign-on is not set up here")
        return self._login


def oidc_routes(login: OidcLogin | None, label: str, *, secure_cookies: bool) -> list[BaseRoute]:
    """The sign-on routes; with ``login`` None they say it is off (the button stays hidden)."""
    routes = _Routes(login, label, secure_cookies, None if login is None else login.box)
    return [
        Route("/login/oidc/options", routes.options, methods=["GET"]),
        Route("/login/oidc", routes.start, methods=["GET"]),
        Route("/login/oidc/callback", routes.callback, methods=["GET"]),
    ]
