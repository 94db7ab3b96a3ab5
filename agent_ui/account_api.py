"""The signed-in user's own account: their password and their second factor.

``POST /api/me/password`` changes the password. ``GET /api/me/totp`` says whether two-step
sign-in is on; ``POST /api/me/totp`` starts enrolment (the otpauth URI and its QR code, for
supervisors and admins), ``POST /api/me/totp/confirm`` ``{"code"}`` turns it on; an admin's
``DELETE /api/admin/agents/{username}/totp`` resets a user's (a lost phone).

A write (origin and CSRF checked), for any role. Wrong current passwords are throttled per
(username, client address) exactly as logins are (:class:`agent_ui.session.LoginThrottle`: a few
free, then doubling delays; a budget per address), failures and throttling audited; the change
itself (policy, other sessions ended, this one kept, audit) is :mod:`cti.accounts.passwords`'.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_json
from agent_ui.policy import WebPolicy
from agent_ui.responses import NO_STORE
from agent_ui.session import LoginThrottle
from agent_ui.web import AuditLog, route_auth
from cti.accounts.passwords import PasswordChanges, WrongPassword
from cti.accounts.totp import TOTP_ROLES, TotpFactors
from cti.errors import RateLimited, ValidationFailed
from cti.principal import Action, require

__all__ = ["account_routes"]

log = logging.getLogger(__name__)

_MAX_PASSWORD = 1024  # as the login's: bounds the argon2 work one request causes


def _password_field(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_PASSWORD:
        raise ValidationFailed(
            f"{name} is required (1 to {_MAX_PASSWORD} characters)", details={"field": name}
        )
    return value


class _PasswordRoute:
    def __init__(self, changes: PasswordChanges, throttle: LoginThrottle, audit: AuditLog) -> None:
        self._changes, self._throttle, self._audit = changes, throttle, audit

    async def change(self, request: Request) -> Response:
        """``{"current", "new_password"}`` -> 200 ``{"sessions_ended": n}``."""
        session = route_auth(request).check_write(request)
        principal = session.principal
        require(principal, Action.READ_SELF)
        body = await read_json(request)
        current = _password_field(body, "current")
        new = _password_field(body, "new_password")
        address = request.client.host if request.client else "unknown"
        who: dict[str, object] = {"username": principal.username, "address": address}
        try:
            self._throttle.check(principal.username, address)
        except RateLimited:
            if self._throttle.first_refusal(principal.username, address):
                await self._audit("auth.password.throttled", who)
            raise
        try:
            ended = await self._changes.change(principal, session.session_id, current, new)
        except WrongPassword:
            failures = self._throttle.record(principal.username, address, success=False)
            await self._audit("auth.password.failed", {**who, "failures": failures})
            raise
        self._throttle.record(principal.username, address, success=True)
        log.info("%s changed their password (%d other sessions ended)", principal.username, ended)
        return JSONResponse({"sessions_ended": ended}, headers=NO_STORE)


class _TotpRoutes:
    def __init__(self, factors: TotpFactors) -> None:
        self._factors = factors

    async def status(self, request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        body = {
            "enabled": await self._factors.enabled(principal.username),
            "available": principal.role in TOTP_ROLES,
        }
        return JSONResponse(body, headers=NO_STORE)

    async def begin(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        enrolment = await self._factors.begin(principal)
        return JSONResponse(enrolment.as_dict(), headers=NO_STORE)

    async def confirm(self, request: Request) -> Response:
        principal = route_auth(request).check_write(request).principal
        body = await read_json(request)
        await self._factors.confirm(principal, body.get("code"))
        return JSONResponse({"enabled": True}, headers=NO_STORE)

    async def reset(self, request: Request) -> Response:
        admin = route_auth(request).check_write(request).principal
        require(admin, Action.ADMINISTER_PBX)
        await self._factors.reset(admin, request.path_params["username"][:64])
        return Response(status_code=204, headers=NO_STORE)


def account_routes(
    changes: PasswordChanges, factors: TotpFactors, policy: WebPolicy, audit: AuditLog
) -> list[BaseRoute]:
    """The routes of the user's own account; ``policy`` sets the throttle as the login's."""
    throttle = LoginThrottle(
        user_failures=policy.login_user_failures,
        user_window_s=policy.login_user_window_s,
        ip_attempts=policy.login_ip_attempts,
        ip_window_s=policy.login_ip_window_s,
    )
    password = _PasswordRoute(changes, throttle, audit)
    totp = _TotpRoutes(factors)
    return [
        Route("/api/me/password", password.change, methods=["POST"]),
        Route("/api/me/totp", totp.status, methods=["GET"]),
        Route("/api/me/totp", totp.begin, methods=["POST"]),
        Route("/api/me/totp/confirm", totp.confirm, methods=["POST"]),
        Route("/api/admin/agents/{username}/totp", totp.reset, methods=["DELETE"]),
    ]
