"""Agents and their phones, as queries on one connection (the caller owns the transaction).

Passwords are hashed by the caller (:class:`cti.store.Store` holds the argon2 hasher); nothing
here sees a plain-text password, and :class:`AgentInfo` never carries the hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from cti.errors import Conflict, NotFound, ValidationFailed
from cti.store.models import agent_endpoints, agents
from cti.store.site_tables import site_devices
from cti.store.text import clean_text
from cti.store.values import AgentEndpoint, AgentInfo, Role, check_username

__all__ = [
    "agent_ids",
    "agent_infos",
    "agent_row",
    "as_endpoints",
    "check_display_name",
    "check_email",
    "check_role",
    "endpoint_owners",
    "insert_agent",
    "replace_endpoints",
    "update_agent_row",
]


def check_role(role: Role | str) -> Role:
    """Return ``role`` as a Role; raise ValidationFailed for anything else."""
    try:
        return Role(role)
    except ValueError as exc:
        raise ValidationFailed(
            "a role is agent, supervisor or admin", details={"role": str(role)[:20]}
        ) from exc


def check_email(email: str | None) -> str | None:
    """Return ``email`` stripped (None for empty); refuse what is obviously not an address."""
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > 255 or "@" not in email[1:-1] or any(c.isspace() for c in email):
        raise ValidationFailed("not an email address", details={"email": email[:80]})
    return email


def check_display_name(value: str) -> str:
    """Return ``value`` cleaned and stripped; refuse more than 255 characters."""
    value = clean_text(value).strip()
    if len(value) > 255:
        raise ValidationFailed("a display name is at most 255 characters")
    return value


def as_endpoints(endpoints: Sequence[AgentEndpoint | str]) -> list[AgentEndpoint]:
    """Return ``endpoints`` as AgentEndpoint values (a bare name is on any server)."""
    return [e if isinstance(e, AgentEndpoint) else AgentEndpoint(e) for e in endpoints]


def insert_agent(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert one agent row; raise Conflict when the username is taken."""
    username = values["username"]
    if conn.execute(select(agents.c.id).where(agents.c.username == username)).first():
        raise Conflict("that username is taken", details={"username": username})
    return int(conn.execute(insert(agents).values(**values).returning(agents.c.id)).scalar_one())


def update_agent_row(conn: Connection, agent_id: int, values: Mapping[str, Any]) -> None:
    if values:
        conn.execute(update(agents).where(agents.c.id == agent_id).values(**values))


def replace_endpoints(conn: Connection, agent_id: int, endpoints: Sequence[AgentEndpoint]) -> None:
    """Make ``endpoints`` the agent's phones; raise Conflict if another agent has one of them."""
    names = [e.endpoint for e in endpoints]
    if len(set(names)) != len(names):
        raise ValidationFailed("an endpoint is listed twice")
    if names:
        taken = conn.execute(
            select(agent_endpoints.c.endpoint, agents.c.username)
            .join(agents, agents.c.id == agent_endpoints.c.agent_id)
            .where(agent_endpoints.c.endpoint.in_(names), agent_endpoints.c.agent_id != agent_id)
        ).first()
        if taken is not None:
            raise Conflict(
                f"endpoint {taken.endpoint} belongs to {taken.username}",
                details={"endpoint": taken.endpoint, "agent": taken.username},
            )
    conn.execute(delete(agent_endpoints).where(agent_endpoints.c.agent_id == agent_id))
    if endpoints:
        conn.execute(
            insert(agent_endpoints),
            [{"agent_id": agent_id, "endpoint": e.endpoint, "server": e.server} for e in endpoints],
        )


def agent_row(conn: Connection, username: str) -> Row[Any] | None:
    """Return the agent's whole row (with the password hash), None for an unknown username."""
    return conn.execute(select(agents).where(agents.c.username == username)).first()


def agent_infos(conn: Connection, usernames: Iterable[str] | None = None) -> list[AgentInfo]:
    """Return the agents named (all when None), by username, with their endpoints."""
    query = select(agents).order_by(agents.c.username)
    if usernames is not None:
        query = query.where(agents.c.username.in_(list(usernames)))
    rows = conn.execute(query).all()
    phones: dict[int, list[AgentEndpoint]] = {row.id: [] for row in rows}
    if rows:
        found = conn.execute(
            select(agent_endpoints)
            .where(agent_endpoints.c.agent_id.in_(list(phones)))
            .order_by(agent_endpoints.c.id)
        )
        for phone in found:
            phones[phone.agent_id].append(AgentEndpoint(phone.endpoint, phone.server))
    return [
        AgentInfo(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            email=row.email,
            role=Role(row.role),
            active=bool(row.active),
            created_at=row.created_at,
            endpoints=tuple(phones[row.id]),
        )
        for row in rows
    ]


def agent_ids(conn: Connection, usernames: Iterable[str]) -> dict[str, int]:
    """Return the id of every username; raise NotFound naming those that do not exist."""
    wanted = {check_username(name) for name in usernames}
    if not wanted:
        return {}
    found = {
        row.username: row.id
        for row in conn.execute(
            select(agents.c.username, agents.c.id).where(agents.c.username.in_(sorted(wanted)))
        )
    }
    missing = sorted(wanted - found.keys())
    if missing:
        raise NotFound("no such agent", details={"usernames": missing})
    return found


def endpoint_owners(conn: Connection) -> dict[str, str]:
    """Return endpoint -> username for every active agent's phones (for pop targeting): their
    own endpoints and the desk phones added for them by MAC (``PJSIP/d<mac>``, cti.site), which
    ring with the agent's extension."""
    rows = conn.execute(
        select(agent_endpoints.c.endpoint, agents.c.username)
        .join(agents, agents.c.id == agent_endpoints.c.agent_id)
        .where(agents.c.active.is_(True))
        .order_by(agent_endpoints.c.endpoint)
    )
    owners = {row.endpoint: row.username for row in rows}
    devices = conn.execute(
        select(site_devices.c.mac, agents.c.username)
        .join(agents, agents.c.id == site_devices.c.agent_id)
        .where(agents.c.active.is_(True))
    )
    for mac, username in devices:
        owners.setdefault(f"PJSIP/d{mac}", username)
    return owners
