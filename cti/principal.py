"""Who is asking, and what each role may do: checked on the server for every request.

The store implements :class:`Authenticator`; the web app asks it once per login and keeps the
:class:`Principal` in the signed session. Permissions are a table of actions to roles, so a
reviewer reads every grant in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cti.errors import PermissionDenied

__all__ = ["Action", "Authenticator", "Principal", "Role", "may", "require"]


class Role(StrEnum):
    AGENT = "agent"  # receives pops, dials, writes notes
    SUPERVISOR = "supervisor"  # owns agent groups and their templates; may take calls too
    ADMIN = "admin"  # PBX admin: servers, trunks, DIDs, provisioning


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user: ``username`` is the hub's agent key."""

    username: str
    display_name: str
    role: Role


class Authenticator(Protocol):
    """Check a username and password; the store implements it.

    ``verify`` may block (database, argon2): the web app calls it in a worker thread, never on
    the event loop. It returns None for an unknown user and a wrong password alike, and should
    take as long for both (hash a dummy password for an unknown user).
    """

    def verify(self, username: str, password: str) -> Principal | None: ...


class Action(StrEnum):
    READ_SELF = "self.read"  # GET /api/me, log out
    RECEIVE_POPS = "pops.receive"  # open the agent websocket, mint a websocket ticket
    WRITE_CALL_NOTES = "call.notes"  # notes and disposition of a call
    ADMINISTER_PBX = "pbx.admin"  # servers, trunks, DIDs, provisioning, config apply, audit log
    DIAL = "call.dial"  # click-to-dial from the agent's own phone
    CONTROL_CALL = "call.control"  # hang up or transfer a call the agent is on
    SEARCH_CRM = "crm.search"  # search contacts and cases, read call history
    EDIT_CRM = "crm.edit"  # link a number to a contact, create a contact
    SET_AGENT_STATE = "agent.state"  # ready / paused / wrap-up (queue membership)
    SUPERVISE_GROUPS = "groups.supervise"  # groups, pop templates, live view (own groups only)


_GRANTS: dict[Action, frozenset[Role]] = {
    Action.READ_SELF: frozenset(Role),
    Action.RECEIVE_POPS: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.WRITE_CALL_NOTES: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.DIAL: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.CONTROL_CALL: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.SEARCH_CRM: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.EDIT_CRM: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.SET_AGENT_STATE: frozenset({Role.AGENT, Role.SUPERVISOR}),
    Action.ADMINISTER_PBX: frozenset({Role.ADMIN}),
    Action.SUPERVISE_GROUPS: frozenset({Role.SUPERVISOR, Role.ADMIN}),  # admins: every group
}


def may(principal: Principal, action: Action) -> bool:
    """Return whether ``principal``'s role grants ``action``."""
    return principal.role in _GRANTS[action]


def require(principal: Principal, action: Action) -> None:
    """Raise :class:`PermissionDenied` unless ``principal`` may do ``action``."""
    if not may(principal, action):
        raise PermissionDenied(
            f"a {principal.role} may not do this ({action})",
            details={"action": str(action), "role": str(principal.role)},
        )
