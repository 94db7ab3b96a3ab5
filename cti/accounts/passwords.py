"""A signed-in user changes their own password.

They prove they still know the current one (checked as a login is, on the store's threads with
argon2), the new one passes :func:`~cti.accounts.password_policy.check_new_password`, and then,
in one transaction: the new hash is stored, the session they changed it from is kept (its row
takes the new password's tag), every other session of theirs ends ("password changed": a
stolen cookie elsewhere stops working at its next request, its sockets at the next sweep), and
the change is audited. A refusal stores nothing. Throttling wrong current passwords is the web
edge's (:mod:`agent_ui.account_api`), per user and address as the login's.
"""

from __future__ import annotations

from sqlalchemy import select, update

from cti.accounts.password_policy import check_new_password
from cti.accounts.sessions import password_tag, session_key
from cti.errors import CtiError, NotFound
from cti.principal import Principal
from cti.store import Store
from cti.store.audit import append_event
from cti.store.models import agents
from cti.store.session_tables import web_sessions

__all__ = ["PasswordChanges", "WrongPassword"]


class WrongPassword(CtiError):
    """The current password given to change it was not the user's."""

    error_id = "auth.wrong_password"
    status = 403


class PasswordChanges:
    """Self-service password changes against the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def change(self, principal: Principal, session_id: str, current: str, new: str) -> int:
        """Change ``principal``'s password; return how many other sessions it ended.

        Raises WrongPassword (403) for a wrong ``current``, ValidationFailed (422) for a new
        password the policy refuses (checked after ``current``, so the policy's answers are
        not an oracle for anyone who does not know the password).
        """
        return await self._store.aio.run(self._change, principal, session_id, current, new)

    def _change(self, principal: Principal, session_id: str, current: str, new: str) -> int:
        username = principal.username
        if self._store.verify_password(username, current) is None:
            raise WrongPassword("the current password is not right", details={"field": "current"})
        check_new_password(new, username, also=(principal.display_name,))
        if new == current:
            raise WrongPassword(
                "the new password is the current one", details={"field": "new_password"}
            )
        new_hash = self._store.hash_password(new)
        now = self._store.clock()
        with self._store.writing("accounts.change_password") as conn:
            changed = conn.execute(
                update(agents)
                .where(agents.c.username == username)
                .where(agents.c.active.is_(True))
                .values(password_hash=new_hash)
            ).rowcount
            if changed != 1:
                raise NotFound("no such active user", details={"username": username})
            conn.execute(
                update(web_sessions)
                .where(web_sessions.c.id == session_key(session_id))
                .values(password_tag=password_tag(new_hash))
            )
            others = (
                update(web_sessions)
                .where(web_sessions.c.username == username)
                .where(web_sessions.c.id != session_key(session_id))
                .where(web_sessions.c.ended_at.is_(None))
                .values(ended_at=now, end_reason="password changed")
            )
            ended = conn.execute(others).rowcount
            append_event(conn, "auth.password.changed", {"sessions_ended": ended}, username, now)
        return int(ended)

    def has_password(self, username: str) -> bool:
        """Whether ``username`` signs in with a password here (single sign-on users do not)."""
        with self._store.reading("accounts.has_password") as conn:
            found = conn.execute(
                select(agents.c.password_hash).where(agents.c.username == username)
            ).first()
        return found is not None and found.password_hash is not None
