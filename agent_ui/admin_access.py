"""What every admin-only route module needs: the admin check for reads and writes, and JSON
answers that are never cached."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from agent_ui.web import route_auth
from cti.principal import Action, Principal, require

__all__ = ["NO_STORE", "admin_reader", "admin_writer", "no_store_json"]

NO_STORE = {"cache-control": "no-store"}


def no_store_json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def admin_reader(request: Request) -> Principal:
    """The signed-in admin (401 without a session, 403 for another role)."""
    principal = route_auth(request).session(request).principal
    require(principal, Action.ADMINISTER_PBX)
    return principal


def admin_writer(request: Request) -> Principal:
    """The signed-in admin of a state change (origin and CSRF checked too)."""
    principal = route_auth(request).check_write(request).principal
    require(principal, Action.ADMINISTER_PBX)
    return principal
