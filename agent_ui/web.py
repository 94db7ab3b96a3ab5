"""The web app: login, logout, who am I, websocket tickets and the agent websocket.

Everything it needs is passed to :func:`create_app`; it reads no environment and opens no
store. Errors are JSON (``CtiError.as_dict()``) with the error's status; every response carries
the security headers (agent_ui.security).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import parse_qs

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from agent_ui.policy import AgentMessageHandler, WebPolicy
from agent_ui.security import (
    OriginPolicy,
    SecurityHeadersMiddleware,
    check_csrf,
    content_security_policy,
)
from agent_ui.session import LoginThrottle, Session, SessionCodec, TicketBook
from agent_ui.ws import AgentSocket
from cti.config import HttpSettings
from cti.errors import (
    AuthenticationRequired,
    CtiError,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
)
from cti.hub import AgentHub
from cti.principal import Action, Authenticator, Principal, require

__all__ = ["RevalidatedFiles", "RouteAuth", "create_app", "route_auth", "session_cookie_name"]

log = logging.getLogger(__name__)

_NO_STORE = {"cache-control": "no-store"}
COMMON_STATIC = Path(__file__).parent / "static" / "common"  # JS every page imports
MAX_USERNAME_CHARS = 150
MAX_PASSWORD_CHARS = 1024  # argon2 hashes anything; this bounds the work one request can cause


def session_cookie_name(http: HttpSettings) -> str:
    """``__Host-`` pins the cookie to this host over HTTPS (no Domain, Path=/, Secure)."""
    return "__Host-cti_session" if http.secure_cookies else "cti_session"


class RevalidatedFiles(StaticFiles):
    """Pages' code and style: revalidated on every load (ETag), so an upgrade is seen at once."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        return response


def create_app(
    *,
    authenticator: Authenticator,
    hub: AgentHub,
    http: HttpSettings,
    secret: SecretStr,
    on_agent_message: AgentMessageHandler,
    policy: WebPolicy | None = None,
    routes: Sequence[BaseRoute] = (),
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build the ASGI app; ``routes`` adds pages and APIs that reuse its session and errors.

    ``secret`` signs session cookies (at least 32 bytes; ConfigError otherwise).
    """
    policy = policy or WebPolicy()
    origins = OriginPolicy(http.public_origin, http.allowed_origins)
    codec = SessionCodec(secret, max_age_s=policy.session_max_age_s, wall_clock=wall_clock)
    tickets = TicketBook(ttl_s=policy.ticket_ttl_s, clock=clock)
    throttle = LoginThrottle(
        user_failures=policy.login_user_failures,
        user_window_s=policy.login_user_window_s,
        ip_attempts=policy.login_ip_attempts,
        ip_window_s=policy.login_ip_window_s,
        clock=clock,
    )
    cookie = session_cookie_name(http)
    api = _Api(
        authenticator=authenticator,
        hub=hub,
        codec=codec,
        tickets=tickets,
        throttle=throttle,
        origins=origins,
        policy=policy,
        cookie=cookie,
        http=http,
    )
    socket = AgentSocket(
        hub=hub,
        codec=codec,
        tickets=tickets,
        origins=origins,
        cookie_name=cookie,
        policy=policy,
        on_agent_message=on_agent_message,
        clock=clock,
        wall_clock=wall_clock,
    )
    app = Starlette(
        routes=[
            Route("/login", api.login, methods=["POST"]),
            Route("/logout", api.logout, methods=["POST"]),
            Route("/api/me", api.me, methods=["GET"]),
            Route("/api/ws-ticket", api.ws_ticket, methods=["POST"]),
            WebSocketRoute("/ws", socket.endpoint),
            Mount("/static/common", app=RevalidatedFiles(directory=COMMON_STATIC), name="common"),
            *routes,
        ],
        middleware=[
            Middleware(
                SecurityHeadersMiddleware,
                csp=content_security_policy(origins.public),
                hsts=http.secure_cookies,
            )
        ],
        exception_handlers={
            CtiError: _cti_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.route_auth = RouteAuth(codec, origins, cookie)
    return app


class RouteAuth:
    """How routes added through ``create_app(routes=...)`` authenticate, as the built-in ones do.

    Reach it with :func:`route_auth`; then ``session(request)`` for any request and
    ``check_write(request)`` (origin and CSRF too) before any state change.
    """

    def __init__(self, codec: SessionCodec, origins: OriginPolicy, cookie: str) -> None:
        self._codec, self._origins, self._cookie = codec, origins, cookie

    def session(self, request: Request) -> Session:
        """Return the request's session; raise AuthenticationRequired without a valid one."""
        session = self._codec.read(request.cookies.get(self._cookie))
        if session is None:
            raise AuthenticationRequired("not logged in (or the session expired)")
        return session

    def check_write(self, request: Request) -> Session:
        """Return the session of a state-changing request after its origin and CSRF checks."""
        self._origins.check_post(request.headers)
        session = self.session(request)
        check_csrf(request.headers, session.csrf_token)
        return session


def route_auth(request: Request) -> RouteAuth:
    """Return the :class:`RouteAuth` of the app serving ``request``."""
    auth = request.app.state.route_auth
    assert isinstance(auth, RouteAuth)
    return auth


class _Api:
    def __init__(
        self,
        *,
        authenticator: Authenticator,
        hub: AgentHub,
        codec: SessionCodec,
        tickets: TicketBook,
        throttle: LoginThrottle,
        origins: OriginPolicy,
        policy: WebPolicy,
        cookie: str,
        http: HttpSettings,
    ) -> None:
        self.authenticator, self.hub, self.codec, self.tickets = authenticator, hub, codec, tickets
        self.throttle, self.origins, self.policy = throttle, origins, policy
        self.cookie, self.secure = cookie, http.secure_cookies

    async def login(self, request: Request) -> Response:
        """Check the credentials (JSON or form), start a new session, set its cookie."""
        self.origins.check_post(request.headers)
        username, password = await self._credentials(request)
        address = request.client.host if request.client else "unknown"
        self.throttle.check(username, address)
        principal = await run_in_threadpool(self.authenticator.verify, username, password)
        self.throttle.record(username, success=principal is not None)
        if principal is None:
            raise AuthenticationRequired("wrong username or password")
        previous = self.codec.read(request.cookies.get(self.cookie))
        if previous is not None:
            self.codec.revoke(previous)
        session, value = self.codec.issue(principal)
        response = JSONResponse(_session_body(session), headers=_NO_STORE)
        response.set_cookie(
            self.cookie,
            value,
            max_age=math.ceil(self.codec.max_age_s),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite=self.policy.same_site,
        )
        log.info("user %s logged in from %s", principal.username, address)
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (its websockets too) and clear the cookie; harmless when logged out."""
        self.origins.check_post(request.headers)
        session = self.codec.read(request.cookies.get(self.cookie))
        if session is not None:
            check_csrf(request.headers, session.csrf_token)
            self.codec.revoke(session)
            self.hub.disconnect(
                session.principal.username, session_id=session.session_id, reason="logged out"
            )
        response = Response(status_code=204, headers=_NO_STORE)
        response.delete_cookie(
            self.cookie, path="/", secure=self.secure, httponly=True, samesite=self.policy.same_site
        )
        return response

    async def me(self, request: Request) -> Response:
        """Return the user and the CSRF token the page sends back on every POST."""
        session = self._session(request)
        require(session.principal, Action.READ_SELF)
        return JSONResponse(_session_body(session), headers=_NO_STORE)

    async def ws_ticket(self, request: Request) -> Response:
        """Mint a single-use ticket to open /ws?ticket=... within ``ticket_ttl_s`` seconds."""
        self.origins.check_post(request.headers)
        session = self._session(request)
        check_csrf(request.headers, session.csrf_token)
        require(session.principal, Action.RECEIVE_POPS)
        ticket = self.tickets.mint(session)
        body = {"ticket": ticket, "expires_in_s": self.tickets.ttl_s}
        return JSONResponse(body, headers=_NO_STORE)

    def _session(self, request: Request) -> Session:
        session = self.codec.read(request.cookies.get(self.cookie))
        if session is None:
            raise AuthenticationRequired("not logged in (or the session expired)")
        return session

    async def _credentials(self, request: Request) -> tuple[str, str]:
        body = await _read_body(request, self.policy.max_body_bytes)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fields: dict[str, object]
        if kind == "application/json":
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise ValidationFailed("the body is not JSON") from exc
            fields = parsed if isinstance(parsed, dict) else {}
        elif kind == "application/x-www-form-urlencoded":
            try:
                form = parse_qs(body.decode(), max_num_fields=10, strict_parsing=False)
            except (UnicodeDecodeError, ValueError) as exc:
                raise ValidationFailed("the form is not readable") from exc
            fields = {k: v[0] for k, v in form.items()}
        else:
            raise ValidationFailed("send JSON or an urlencoded form", details={"got": kind})
        return (
            _field(fields, "username", MAX_USERNAME_CHARS),
            _field(fields, "password", MAX_PASSWORD_CHARS),
        )


def _field(fields: dict[str, object], name: str, limit: int) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= limit or "\x00" in value:
        raise ValidationFailed(
            f"{name} must be 1 to {limit} characters", details={"field": name, "limit": limit}
        )
    return value


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body may hold at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body may hold at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _principal_body(principal: Principal) -> dict[str, object]:
    return {
        "username": principal.username,
        "display_name": principal.display_name,
        "role": str(principal.role),
    }


def _session_body(session: Session) -> dict[str, object]:
    return {
        "user": _principal_body(session.principal),
        "csrf": session.csrf_token,
        "expires_at": session.expires_at,
    }


async def _cti_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CtiError)
    headers = dict(_NO_STORE)
    retry = exc.details.get("retry_after_s") if isinstance(exc, RateLimited) else None
    if isinstance(retry, int | float):
        headers["retry-after"] = str(math.ceil(retry))
    return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = {"error": f"http.{exc.status_code}", "message": exc.detail, "details": {}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = {"error": CtiError.error_id, "message": "internal error", "details": {}}
    return JSONResponse(body, status_code=500)
