"""Browser-facing defences: the origin allow-list, CSRF checks and security headers.

A cross-site page can make the agent's browser send its cookie (a form POST, a websocket), but
it cannot choose the ``Origin`` header, read the CSRF token or set a custom header without a
CORS preflight that this app never grants. So: websockets need an allowed ``Origin``; every
state-changing request needs an allowed ``Origin`` when one is sent, and, once logged in, the
session's token in ``X-CTI-CSRF``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cti.errors import ConfigError, CsrfRejected, OriginRejected

__all__ = [
    "CSRF_HEADER",
    "OriginPolicy",
    "SecurityHeadersMiddleware",
    "check_csrf",
    "content_security_policy",
    "normalize_origin",
]

CSRF_HEADER = "x-cti-csrf"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """Return ``scheme://host[:port]`` lower-cased without a default port, or None if bad."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    if ":" in host:
        host = f"[{host}]"
    suffix = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    return f"{scheme}://{host}{suffix}"


class OriginPolicy:
    """The origins whose pages may use this app: the public origin plus the configured ones."""

    def __init__(self, public_origin: str, allowed: Iterable[str]) -> None:
        origins: dict[str, None] = {}
        for origin in (public_origin, *allowed):
            normal = normalize_origin(origin)
            if normal is None:
                raise ConfigError(
                    f"{origin!r} is not an origin (scheme://host[:port])",
                    details={"setting": "http.allowed_origins"},
                )
            origins[normal] = None
        self.origins = tuple(origins)
        self.public = self.origins[0]

    @property
    def hosts(self) -> tuple[str, ...]:
        """The host names of the allowed origins (what a request's ``Host`` may name)."""
        return tuple(dict.fromkeys((urlsplit(o).hostname or "") for o in self.origins))

    def allows(self, origin: str | None) -> bool:
        return origin is not None and normalize_origin(origin) in self.origins

    def check_websocket(self, headers: Mapping[str, str]) -> None:
        """A websocket must come from an allowed page: a missing ``Origin`` is refused too."""
        origin = headers.get("origin")
        if not self.allows(origin):
            raise OriginRejected(
                "this page's origin may not open the agent websocket",
                details={"origin": (origin or "")[:100], "allowed": list(self.origins)},
            )

    def check_post(self, headers: Mapping[str, str]) -> None:
        """A state-changing request from a browser must come from an allowed page."""
        origin = headers.get("origin")
        cross_site = headers.get("sec-fetch-site") == "cross-site"
        if (origin is not None and not self.allows(origin)) or cross_site:
            raise OriginRejected(
                "cross-site requests are refused",
                details={"origin": (origin or "")[:100], "allowed": list(self.origins)},
            )


def check_csrf(headers: Mapping[str, str], expected: str) -> None:
    """Raise CsrfRejected unless ``X-CTI-CSRF`` carries the session's token."""
    given = headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected(
            "missing or wrong X-CTI-CSRF header; get the token from GET /api/me",
            details={"header": "X-CTI-CSRF"},
        )


def content_security_policy(public_origin: str, connect: Sequence[str] = ()) -> str:
    """A CSP with no inline script or style, nothing framing us, sockets only to ourselves
    and to ``connect`` (the PBX's websocket for the browser phone, ``wss://pbx:8089``).

    A websocket origin in ``connect`` also allows its HTTP twin (``https://pbx:8089``): when
    the phone's websocket fails, the page asks that server for anything (a no-cors request)
    to tell an Asterisk that answers but lacks its WebRTC modules from one not reachable.
    """
    socket_origin = "ws" + public_origin.removeprefix("http")  # http->ws, https->wss
    twins = [f"http{origin.removeprefix('ws')}" for origin in connect if origin.startswith("ws")]
    connect = [*connect, *twins]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            " ".join(["connect-src 'self'", socket_origin, *connect]),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response, websocket refusals included."""

    def __init__(self, app: ASGIApp, *, csp: str, hsts: bool) -> None:
        self.app = app
        self.headers = {
            "content-security-policy": csp,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            "cross-origin-opener-policy": "same-origin",
            "cross-origin-resource-policy": "same-origin",
            "permissions-policy": "camera=(), geolocation=(), payment=()",
        }
        if hsts:
            self.headers["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
