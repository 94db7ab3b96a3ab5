"""What every admin-only route module needs: the admin check for reads and writes."""

from __future__ import annotations

from starlette.requests import Request

from agent_ui.web import route_auth
from cti.principal import Action, Principal, require

__all__ = ["admin_reader", "admin_writer"]


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
