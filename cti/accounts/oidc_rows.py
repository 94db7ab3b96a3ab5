"""The single sign-on tables' reads and writes (:mod:`cti.store.session_tables`), in the
caller's transaction; :mod:`cti.accounts.oidc` decides what to do with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, delete, insert, select, update

from cti.principal import Role
from cti.store.models import agents
from cti.store.session_tables import oidc_links, oidc_sessions

__all__ = ["link_user", "remember_session", "session_row", "set_checked"]

Linked = tuple[Literal["ok", "taken", "disabled"], str]


def link_user(
    conn: Connection,
    *,
    issuer: str,
    subject: str,
    username: str,
    name: str,
    role: Role,
    now: datetime,
) -> Linked:
    """The local user of provider account (issuer, subject), made or updated (name, role).

    "taken": a local user of that name is not linked to it; "disabled": an admin disabled the
    linked user here (the provider does not re-enable them).
    """
    query = (
        select(agents.c.id, agents.c.username, agents.c.active, agents.c.role)
        .join(oidc_links, oidc_links.c.agent_id == agents.c.id)
        .where(oidc_links.c.issuer == issuer, oidc_links.c.subject == subject)
    )
    found = conn.execute(query).first()
    if found is not None:
        if not found.active:
            return "disabled", found.username
        changes = {"display_name": name, "role": str(role)}
        conn.execute(update(agents).where(agents.c.id == found.id).values(**changes))
        return "ok", found.username
    if conn.execute(select(agents.c.id).where(agents.c.username == username)).first():
        return "taken", username
    values = {
        "username": username,
        "display_name": name,
        "password_hash": None,  # signs in through the provider only
        "role": str(role),
        "active": True,
        "created_at": now,
    }
    agent_id = conn.execute(insert(agents).values(**values).returning(agents.c.id)).scalar_one()
    conn.execute(insert(oidc_links).values(agent_id=agent_id, issuer=issuer, subject=subject))
    return "ok", username


def remember_session(conn: Connection, values: dict[str, Any], now: datetime) -> None:
    conn.execute(delete(oidc_sessions).where(oidc_sessions.c.expires_at < now))
    conn.execute(insert(oidc_sessions).values(**values))


def session_row(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(select(oidc_sessions).where(oidc_sessions.c.id == key)).first()


def set_checked(
    conn: Connection, key: str, now: datetime, tokens: dict[str, str | None] | None
) -> None:
    values: dict[str, Any] = {"checked_at": now, **(tokens or {})}
    conn.execute(update(oidc_sessions).where(oidc_sessions.c.id == key).values(**values))
