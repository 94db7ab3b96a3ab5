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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from agent_ui.hub import AgentHub
from agent_ui.json_body import read_body, read_json
from agent_ui.policy import AgentMessageHandler, WebPolicy
from agent_ui.responses import NO_STORE
from agent_ui.security import (
    OriginPolicy,
    SecurityHeadersMiddleware,
    check_csrf,
    content_security_policy,
)
from agent_ui.session import LoginThrottle, Session, SessionCodec
from agent_ui.session_guard import MemorySessions, SessionGuard, SessionRegistry, request_session
from agent_ui.tickets import TicketBook, TicketStore
from agent_ui.ws import AgentSocket
from cti.config import HttpSettings
from cti.errors import (
    AuthenticationRequired,
    CtiError,
    RateLimited,
    ValidationFailed,
)
from cti.principal import Action, Authenticator, Principal, Role, may, require

__all__ = [
    "PAGES",
    "Page",
    "RevalidatedFiles",
    "RouteAuth",
    "SecondFactor",
    "create_app",
    "route_auth",
    "session_cookie_name",
]

log = logging.getLogger(__name__)

AuditLog = Callable[[str, dict[str, object]], Awaitable[object]]  # (kind, details)

STATIC_DIR = Path(__file__).resolve().parent / "static"  # common/, agent/, supervisor/, admin/
PAGES_DIR = Path(__file__).parent / "pages"
MAX_USERNAME_CHARS = 150
MAX_PASSWORD_CHARS = 1024  # argon2 hashes anything; this bounds the work one request can cause
SECOND_STEP_S = 180  # how long the password step stands waiting for the code


class SecondFactor(Protocol):
    """A second step at login after the password (TOTP: :class:`cti.accounts.totp.TotpFactors`).

    ``check`` spends a right code (it is not accepted twice)."""

    async def enabled(self, username: str) -> bool: ...

    async def check(self, username: str, code: object) -> bool: ...


def session_cookie_name(http: HttpSettings) -> str:
    """``__Host-`` pins the cookie to this host over HTTPS (no Domain, Path=/, Secure)."""
    return "__Host-cti_session" if http.secure_cookies else "cti_session"


@dataclass(frozen=True)
class Page:
    """One console: its path, its file in ``agent_ui/pages/``, its name in the navigation and
    the action a signed-in user needs to open it."""

    path: str
    file: str
    title: str
    action: Action
    nav: bool = True  # listed in the consoles' navigation (the wallboard is reached by link)


PAGES = (
    Page("/agent", "agent.html", "Agent desktop", Action.READ_SELF),
    Page("/supervisor", "supervisor.html", "Supervisor console", Action.SUPERVISE_GROUPS),
    Page("/admin", "admin.html", "PBX admin", Action.ADMINISTER_PBX),
    Page("/wallboard", "wallboard.html", "Wallboard", Action.SUPERVISE_GROUPS, nav=False),
)
_HOME = {Role.AGENT: "/agent", Role.SUPERVISOR: "/supervisor", Role.ADMIN: "/admin"}
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
# Loaded by the supervisor's sandboxed (opaque-origin) pop preview as well as by the desktop.
_CROSS_ORIGIN = {"common/tokens.css", "common/pop.css"}


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
        kind = _CONTENT_TYPES.get(Path(full_path).suffix)
        if kind is not None:
            response.headers["content-type"] = f"{kind}; charset=utf-8"
        if Path(full_path).relative_to(STATIC_DIR).as_posix() in _CROSS_ORIGIN:
            response.headers["cross-origin-resource-policy"] = "cross-origin"
        return response


class _Pages:
    """Every console page, read once; a signed-in user is sent home from a page not theirs."""

    def __init__(self) -> None:
        self._html = {p.path: (p, (PAGES_DIR / p.file).read_text(encoding="utf-8")) for p in PAGES}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            *(Route(path, self.page, methods=["GET"]) for path in self._html),
            Mount("/static", app=RevalidatedFiles(directory=STATIC_DIR), name="static"),
        ]

    async def home(self, request: Request) -> Response:
        session = request_session(request)
        home = _HOME[session.principal.role] if session else "/agent"
        return RedirectResponse(home, status_code=303, headers=NO_STORE)

    async def page(self, request: Request) -> Response:
        page, html = self._html[request.url.path]
        session = request_session(request)
        if session is not None and not may(session.principal, page.action):
            home = _HOME[session.principal.role]
            return RedirectResponse(home, status_code=303, headers=NO_STORE)
        return HTMLResponse(html, headers=NO_STORE)


def create_app(
    *,
    authenticator: Authenticator,
    hub: AgentHub,
    http: HttpSettings,
    secret: SecretStr,
    on_agent_message: AgentMessageHandler,
    policy: WebPolicy | None = None,
    routes: Sequence[BaseRoute] = (),
    connect_sources: Sequence[str] = (),
    audit: AuditLog | None = None,
    sessions: SessionRegistry | None = None,
    second_factor: SecondFactor | None = None,
    tickets: TicketStore | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build the ASGI app; ``routes`` adds pages and APIs that reuse its session and errors.

    ``secret`` signs session cookies (at least 32 bytes; ConfigError otherwise). ``audit``
    records security events (failed and throttled logins) in the audit log. ``sessions`` says
    whether a session may still be used (the store's, across restarts); without one, sessions
    are kept in this process's memory. With ``second_factor``, a user it names gives a code
    after the password (``POST /login/totp`` with the short-lived signed token /login returned).
    ``tickets`` keeps websocket tickets (this process's memory without one; the broker in a
    cluster, so that any node redeems them).
    """
    policy = policy or WebPolicy()
    origins = OriginPolicy(http.public_origin, http.allowed_origins)
    codec = SessionCodec(secret, max_age_s=policy.session_max_age_s, wall_clock=wall_clock)
    ticket_book = TicketBook(ttl_s=policy.ticket_ttl_s, store=tickets, clock=clock)
    throttle, code_throttle = (
        LoginThrottle(
            user_failures=policy.login_user_failures,
            user_window_s=policy.login_user_window_s,
            ip_attempts=policy.login_ip_attempts,
            ip_window_s=policy.login_ip_window_s,
            clock=clock,
        )
        for _ in range(2)
    )
    cookie = session_cookie_name(http)
    guard = SessionGuard(
        sessions or MemorySessions(wall_clock), codec, cookie, check_every_s=policy.session_check_s
    )
    api = _Api(
        authenticator=authenticator,
        hub=hub,
        codec=codec,
        tickets=ticket_book,
        throttle=throttle,
        origins=origins,
        policy=policy,
        guard=guard,
        http=http,
        audit=audit,
    )
    api.second_factor, api.code_throttle = second_factor, code_throttle
    api.second_step = URLSafeTimedSerializer(secret.get_secret_value(), salt="cti.login.second")
    socket = AgentSocket(
        hub=hub,
        guard=guard,
        tickets=ticket_book,
        origins=origins,
        policy=policy,
        on_agent_message=on_agent_message,
        clock=clock,
        wall_clock=wall_clock,
    )
    app = Starlette(
        routes=[
            Route("/login", api.login, methods=["POST"]),
            Route("/login/totp", api.login_code, methods=["POST"]),
            Route("/logout", api.logout, methods=["POST"]),
            Route("/api/me", api.me, methods=["GET"]),
            Route("/api/ws-ticket", api.ws_ticket, methods=["POST"]),
            WebSocketRoute("/ws", socket.endpoint),
            *_Pages().routes(),
            *routes,
        ],
        middleware=[
            Middleware(
                SecurityHeadersMiddleware,
                csp=content_security_policy(origins.public, connect_sources),
                hsts=http.secure_cookies,
            ),
            Middleware(
                TrustedHostMiddleware,
                allowed_hosts=[*origins.hosts, *http.trusted_hosts],
                www_redirect=False,
            ),
            Middleware(guard.middleware),
        ],
        exception_handlers={
            CtiError: _cti_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.route_auth = RouteAuth(origins, api.sign_in)
    app.state.session_guard = guard
    return app


SignIn = Callable[[Request, Principal, Response | None], Awaitable[tuple[Session, Response]]]


class RouteAuth:
    """How routes added through ``create_app(routes=...)`` authenticate, as the built-in ones do.

    Reach it with :func:`route_auth`; then ``session(request)`` for any request and
    ``check_write(request)`` (origin and CSRF too) before any state change.
    """

    def __init__(self, origins: OriginPolicy, sign_in: SignIn) -> None:
        self._origins = origins
        self.sign_in = sign_in  # a route that proved who someone is (single sign-on) starts
        # their session: sign_in(request, principal, response) sets the cookie on ``response``

    def session(self, request: Request) -> Session:
        """Return the request's session; raise AuthenticationRequired without a valid one.

        The session was checked with the registry as the request came in (SessionGuard).
        """
        session = request_session(request)
        if session is None:
            raise AuthenticationRequired("not logged in (or the session expired)")
        return session

    def check_origin(self, request: Request) -> None:
        """Refuse a cross-site state-changing request that needs no session (the example
        page's backend): the origin check of :meth:`check_write` alone."""
        self._origins.check_post(request.headers)

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
        guard: SessionGuard,
        http: HttpSettings,
        audit: AuditLog | None = None,
    ) -> None:
        self.authenticator, self.hub, self.codec, self.tickets = authenticator, hub, codec, tickets
        self.throttle, self.origins, self.policy = throttle, origins, policy
        self.guard, self.sessions = guard, guard.registry
        self.cookie, self.secure = session_cookie_name(http), http.secure_cookies
        self.audit = audit
        self.second_factor: SecondFactor | None = None
        self.code_throttle = throttle
        self.second_step = URLSafeTimedSerializer("unset", salt="cti.login.second")

    async def _audit(self, kind: str, details: dict[str, object]) -> None:
        """Write a security event to the audit log; a failing log never fails the request."""
        if self.audit is None:
            return
        try:
            await self.audit(kind, details)
        except Exception:
            log.exception("could not write %s to the audit log", kind)

    async def login(self, request: Request) -> Response:
        """Check the credentials (JSON or form), start a new session, set its cookie."""
        self.origins.check_post(request.headers)
        username, password = await self._credentials(request)
        # The peer's address, or the client's as a configured proxy forwarded it (uvicorn's
        # proxy headers, trusted only from [http] trusted_proxies).
        address = request.client.host if request.client else "unknown"
        who: dict[str, object] = {"username": username[:64], "address": address}
        try:
            self.throttle.check(username, address)
        except RateLimited:
            if self.throttle.first_refusal(username, address):
                log.warning("login of %s from %s throttled", username[:64], address)
                await self._audit("auth.login.throttled", who)
            raise
        principal = await run_in_threadpool(self.authenticator.verify, username, password)
        failures = self.throttle.record(username, address, success=principal is not None)
        if principal is None:
            log.info("failed login of %s from %s (%d in a row)", username[:64], address, failures)
            await self._audit("auth.login.failed", {**who, "failures": failures})
            raise AuthenticationRequired("wrong username or password")
        if self.second_factor is not None and await self.second_factor.enabled(username):
            step = [principal.username, principal.display_name, str(principal.role)]
            body = {"second_factor": "totp", "token": self.second_step.dumps(step)}
            return JSONResponse(body | {"expires_in_s": SECOND_STEP_S}, headers=NO_STORE)
        _, response = await self.sign_in(request, principal, None)
        log.info("user %s logged in from %s", principal.username, address)
        return response

    async def login_code(self, request: Request) -> Response:
        """The second step: ``{"token", "code"}``; the code throttled per user and address."""
        self.origins.check_post(request.headers)
        body = await read_json(request, self.policy.max_body_bytes)
        try:
            token = str(body.get("token", ""))[:512]
            username, name, role = self.second_step.loads(token, max_age=SECOND_STEP_S)
        except (BadSignature, TypeError, ValueError) as exc:
            raise AuthenticationRequired(
                "the sign-in took too long; enter your password again"
            ) from exc
        address = request.client.host if request.client else "unknown"
        who: dict[str, object] = {"username": username, "address": address}
        try:
            self.code_throttle.check(username, address)
        except RateLimited:
            if self.code_throttle.first_refusal(username, address):
                await self._audit("auth.totp.throttled", who)
            raise
        ok = self.second_factor is not None and await self.second_factor.check(
            username, body.get("code")
        )
        failures = self.code_throttle.record(username, address, success=ok)
        if not ok:
            await self._audit("auth.totp.failed", {**who, "failures": failures})
            raise AuthenticationRequired("that code is not right", details={"field": "code"})
        _, response = await self.sign_in(request, Principal(username, name, Role(role)), None)
        log.info("user %s logged in from %s with a second factor", username, address)
        return response

    async def sign_in(
        self, request: Request, principal: Principal, response: Response | None
    ) -> tuple[Session, Response]:
        """Start ``principal``'s session (ending the request's previous one) and set its cookie
        on ``response`` (by default the session's JSON, as /login answers)."""
        previous = request_session(request)
        if previous is not None:
            await self._end(previous, "logged in again")
        session, value = self.codec.issue(principal)
        role, idle = str(principal.role), self.policy.idle_s(principal.role)
        if not await self.sessions.begin(
            session.session_id, principal.username, role, session.expires_at, idle
        ):  # the account changed between the password check and now
            raise AuthenticationRequired("wrong username or password")
        if response is None:
            response = JSONResponse(_session_body(session), headers=NO_STORE)
        response.set_cookie(
            self.cookie,
            value,
            max_age=math.ceil(self.codec.max_age_s),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite=self.policy.same_site,
        )
        return session, response

    async def logout(self, request: Request) -> Response:
        """End the session (its websockets too) and clear the cookie; harmless when logged out."""
        self.origins.check_post(request.headers)
        session = request_session(request)
        if session is not None:
            check_csrf(request.headers, session.csrf_token)
            await self._end(session, "logged out")
        response = Response(status_code=204, headers=NO_STORE)
        response.delete_cookie(
            self.cookie, path="/", secure=self.secure, httponly=True, samesite=self.policy.same_site
        )
        return response

    async def me(self, request: Request) -> Response:
        """Return the user and the CSRF token the page sends back on every POST."""
        session = self._session(request)
        require(session.principal, Action.READ_SELF)
        return JSONResponse(_session_body(session), headers=NO_STORE)

    async def ws_ticket(self, request: Request) -> Response:
        """Mint a single-use ticket to open /ws?ticket=... within ``ticket_ttl_s`` seconds."""
        self.origins.check_post(request.headers)
        session = self._session(request)
        check_csrf(request.headers, session.csrf_token)
        require(session.principal, Action.RECEIVE_POPS)
        ticket = await self.tickets.mint(session)
        body = {"ticket": ticket, "expires_in_s": self.tickets.ttl_s}
        return JSONResponse(body, headers=NO_STORE)

    async def _end(self, session: Session, reason: str) -> None:
        """End ``session`` in the registry and close its sockets."""
        await self.sessions.end(session.session_id, reason)
        self.guard.close_session(session.session_id, reason)
        self.hub.disconnect(
            session.principal.username, session_id=session.session_id, reason=reason
        )

    def _session(self, request: Request) -> Session:
        session = request_session(request)
        if session is None:
            raise AuthenticationRequired("not logged in (or the session expired)")
        return session

    async def _credentials(self, request: Request) -> tuple[str, str]:
        body = await read_body(request, self.policy.max_body_bytes)
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


def _principal_body(principal: Principal) -> dict[str, object]:
    return {
        "username": principal.username,
        "display_name": principal.display_name,
        "role": str(principal.role),
    }


def _session_body(session: Session) -> dict[str, object]:
    principal = session.principal
    return {
        "user": _principal_body(principal),
        "csrf": session.csrf_token,
        "expires_at": session.expires_at,
        "home": _HOME[principal.role],
        "pages": [
            {"path": p.path, "title": p.title} for p in PAGES if p.nav and may(principal, p.action)
        ],
    }


async def _cti_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CtiError)
    headers = dict(NO_STORE)
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
