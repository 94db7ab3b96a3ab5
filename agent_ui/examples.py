"""The example customer page ``/examples/call-us`` and its tiny backend, standing in for a
company's website: the page asks its own backend for a number, and the backend calls the
access-number API over HTTP with an API key the browser never sees.

It is what a company would write, kept in the product so a newcomer can try the whole journey
(``[examples] call_us_key`` holds the key): the page sends who the customer is and what they
want, gets the reserved number and its expiry (the page counts down), and learns when the call
was matched. The backend adds the key, fixes the context's ``page`` and passes the API's
answers and errors through (status, stable id, ``Retry-After``). Its writes must come from the
page's own origin (cross-site requests are refused, as every browser write is).
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import optional_text, read_json, required_text
from agent_ui.responses import NO_STORE
from agent_ui.web import PAGES_DIR, route_auth
from cti.errors import CtiError, ValidationFailed

__all__ = ["CallUsBackend", "call_us_routes"]

PAGE = "/examples/call-us"
_ID = re.compile(r"ix_[0-9a-f]{1,64}")
_TIMEOUT_S = 10.0
_PASSED_HEADERS = ("retry-after",)


class ExampleNotConfigured(CtiError):
    """The example has no API key (``[examples] call_us_key``)."""

    error_id = "examples.not_configured"
    status = 503


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class CallUsBackend:
    """The company's side: holds the key, calls ``api_origin``'s ``/api/v1/interactions``."""

    def __init__(self, key: SecretStr | None, api_origin: str, pool: str | None = None) -> None:
        if not api_origin.startswith(("http://", "https://")):
            raise ValueError("api_origin is an http(s) origin")
        self._key, self._origin, self._pool = key, api_origin.rstrip("/"), pool

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> ApiAnswer:
        """One blocking request to the API (run in a thread)."""
        assert self._key is not None
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the origin is checked to be http(s))
            self._origin + path, data=data, method=method
        )
        request.add_header("Authorization", f"Bearer {self._key.get_secret_value()}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as reply:  # noqa: S310
                return ApiAnswer(reply.status, json.loads(reply.read() or b"{}"), {})
        except urllib.error.HTTPError as exc:
            with exc:
                headers = {h: exc.headers[h] for h in _PASSED_HEADERS if exc.headers.get(h)}
                return ApiAnswer(exc.code, json.loads(exc.read() or b"{}"), headers)

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> ApiAnswer:
        if self._key is None:
            raise ExampleNotConfigured(
                "this example page has no API key: set [examples] call_us_key to a key "
                "the admin console issued (docs/access-numbers.md)"
            )
        return await asyncio.to_thread(self._call, method, path, body)

    def reservation(self, form: dict[str, object]) -> dict[str, Any]:
        """The API request for what the customer typed (the page is the backend's to say)."""
        phone = required_text(form, "phone", 32)
        context: dict[str, Any] = {"page": PAGE}
        for name, limit in (("who", 120), ("intent", 60), ("order", 40)):
            value = optional_text(form, name, limit)
            if value:
                context[name] = value
        body: dict[str, Any] = {
            "customer": {"phone": phone},
            "caller_number": phone,
            "context": context,
        }
        if self._pool:
            body["pool"] = self._pool
        return body


def _answer(got: ApiAnswer) -> Response:
    """The API's answer as the page sees it (an interaction, or the error with its id)."""
    body = got.body
    if got.status < 400:
        body = {k: body.get(k) for k in ("id", "state", "number", "expires_at", "call_id")}
    elif body.get("details", {}).get("field") in ("caller_number", "customer.phone"):
        body["details"]["field"] = "phone"  # the page's one phone field
    return JSONResponse(body, status_code=got.status, headers={**NO_STORE, **got.headers})


def _error(exc: CtiError) -> Response:
    return JSONResponse(exc.as_dict(), status_code=exc.status, headers=NO_STORE)


def _interaction_path(request: Request) -> str:
    found = request.path_params["id"]
    if not _ID.fullmatch(found):
        raise ValidationFailed("not an interaction id", details={"field": "id"})
    return f"/api/v1/interactions/{found}"


def call_us_routes(backend: CallUsBackend) -> list[BaseRoute]:
    """The example page and its backend routes, for ``create_app(routes=...)``."""
    html = (PAGES_DIR / "call_us.html").read_text(encoding="utf-8")

    async def page(request: Request) -> Response:
        return HTMLResponse(html, headers=NO_STORE)

    async def reserve(request: Request) -> Response:
        try:
            route_auth(request).check_origin(request)
            wanted = backend.reservation(await read_json(request, 4096))
            return _answer(await backend.api("POST", "/api/v1/interactions", wanted))
        except CtiError as exc:
            return _error(exc)

    async def read(request: Request) -> Response:
        try:
            return _answer(await backend.api("GET", _interaction_path(request)))
        except CtiError as exc:
            return _error(exc)

    async def cancel(request: Request) -> Response:
        try:
            route_auth(request).check_origin(request)
            return _answer(await backend.api("DELETE", _interaction_path(request)))
        except CtiError as exc:
            return _error(exc)

    return [
        Route(PAGE, page, methods=["GET"]),
        Route(f"{PAGE}/interactions", reserve, methods=["POST"]),
        Route(f"{PAGE}/interactions/{{id}}", read, methods=["GET"]),
        Route(f"{PAGE}/interactions/{{id}}", cancel, methods=["DELETE"]),
    ]
