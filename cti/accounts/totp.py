"""An optional second factor for supervisors and admins: time-based one-time codes (RFC 6238).

Enrolment is two steps so nobody locks themselves out with a secret their app never took:
:meth:`TotpFactors.begin` makes a secret (pyotp, 160 bits) and returns its ``otpauth://`` URI
and that URI as a QR code (segno, SVG); the factor asks nothing at login until
:meth:`TotpFactors.confirm` has seen a right code from it. The secret is stored sealed
(:class:`cti.secretbox.SecretBox`). At login (:meth:`check`) a code of the current 30-second
step or either neighbour is accepted once: the step of the last code accepted is kept, so a
code seen over a shoulder cannot be replayed (RFC 6238, section 5.2). An admin resets a
user's factor (a lost phone); every change is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
import segno
from sqlalchemy import Connection, Row, delete, insert, select, update

from cti.errors import NotFound, PermissionDenied, ValidationFailed
from cti.principal import Action, Principal, Role, require
from cti.secretbox import SecretBox
from cti.store import Store
from cti.store.audit import append_event
from cti.store.models import agents
from cti.store.session_tables import totp_secrets

__all__ = ["TOTP_ROLES", "Enrolment", "TotpFactors"]

TOTP_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
_STEP_S = 30


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the page shows while enrolling: the URI for an app, and the same as a QR code."""

    uri: str
    secret: str  # for typing in by hand
    qr: str  # the URI as a QR code, an SVG data: URI (an <img> under the pages' CSP)

    def as_dict(self) -> dict[str, object]:
        return {"uri": self.uri, "secret": self.secret, "qr": self.qr}


def _code(code: object) -> str:
    text = code.replace(" ", "") if isinstance(code, str) else ""
    if not (len(text) == 6 and text.isascii() and text.isdigit()):
        raise ValidationFailed("the code is the 6 digits your app shows", details={"field": "code"})
    return text


class TotpFactors:
    """Users' TOTP factors in the store."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        issuer: str = "CTI",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._box, self._issuer, self._clock = store, box, issuer, clock

    # ------------------------------------------------------------------------- the user's own
    async def enabled(self, username: str) -> bool:
        """Whether ``username`` must give a code at login (a confirmed factor)."""
        return await self._store.aio.run(self._enabled, username)

    async def begin(self, principal: Principal) -> Enrolment:
        """Start (or restart) enrolment; a confirmed factor must be reset by an admin first."""
        if principal.role not in TOTP_ROLES:
            raise PermissionDenied(
                "two-step sign-in is for supervisors and admins",
                details={"role": str(principal.role)},
            )
        secret = pyotp.random_base32(32)
        await self._store.aio.run(self._begin, principal.username, self._box.seal(secret))
        uri = pyotp.TOTP(secret).provisioning_uri(name=principal.username, issuer_name=self._issuer)
        return Enrolment(uri, secret, segno.make(uri, error="m").svg_data_uri(scale=4))

    async def confirm(self, principal: Principal, code: object) -> None:
        """Turn the pending factor on once ``code`` is right (422 naming ``code`` if not)."""
        await self._store.aio.run(self._confirm, principal.username, _code(code))

    async def check(self, username: str, code: object) -> bool:
        """Whether ``code`` is ``username``'s current one (each accepted code is spent)."""
        try:
            text = _code(code)
        except ValidationFailed:
            return False
        return await self._store.aio.run(self._check, username, text)

    async def reset(self, admin: Principal, username: str) -> None:
        """An admin removes ``username``'s factor (they enrol again after signing in)."""
        require(admin, Action.ADMINISTER_PBX)
        await self._store.aio.run(self._reset, admin.username, username)

    # ------------------------------------------------------------------ on the store's threads
    def _enabled(self, username: str) -> bool:
        with self._store.reading("totp.enabled") as conn:
            row = _row(conn, username)
        return row is not None and row.confirmed_at is not None

    def _begin(self, username: str, sealed: str) -> None:
        now = self._store.clock()
        with self._store.writing("totp.begin") as conn:
            agent_id = _agent_id(conn, username)
            row = _row(conn, username)
            if row is not None and row.confirmed_at is not None:
                raise PermissionDenied(
                    "two-step sign-in is already on; an admin can reset it",
                    details={"reason": "enrolled"},
                )
            conn.execute(delete(totp_secrets).where(totp_secrets.c.agent_id == agent_id))
            values = {"agent_id": agent_id, "secret": sealed, "created_at": now}
            conn.execute(insert(totp_secrets).values(**values))

    def _confirm(self, username: str, code: str) -> None:
        with self._store.writing("totp.confirm") as conn:
            row = _row(conn, username)
            if row is None or row.confirmed_at is not None:
                raise NotFound("no enrolment to confirm; start again", details={"field": "code"})
            step = self._matching_step(row.secret, code, row.last_step)
            if step is None:
                raise ValidationFailed(
                    "that code is not right; check the time on your phone",
                    details={"field": "code"},
                )
            conn.execute(
                update(totp_secrets)
                .where(totp_secrets.c.agent_id == row.agent_id)
                .values(confirmed_at=self._store.clock(), last_step=step)
            )
            append_event(conn, "auth.totp.enrolled", {}, username, self._store.clock())

    def _check(self, username: str, code: str) -> bool:
        with self._store.writing("totp.check") as conn:
            row = _row(conn, username)
            if row is None or row.confirmed_at is None:
                return False
            step = self._matching_step(row.secret, code, row.last_step)
            if step is None:
                return False
            spent = conn.execute(
                update(totp_secrets)
                .where(totp_secrets.c.agent_id == row.agent_id)
                .where(totp_secrets.c.last_step < step)  # a code racing its twin loses
                .values(last_step=step)
            ).rowcount
        return bool(spent)

    def _reset(self, admin: str, username: str) -> None:
        with self._store.writing("totp.reset") as conn:
            agent_id = _agent_id(conn, username)
            gone = conn.execute(
                delete(totp_secrets).where(totp_secrets.c.agent_id == agent_id)
            ).rowcount
            if not gone:
                raise NotFound("that user has no two-step sign-in", details={"username": username})
            details = {"username": username}
            append_event(conn, "auth.totp.reset", details, admin, self._store.clock())

    def _matching_step(self, sealed: str, code: str, last_step: int) -> int | None:
        """The time step (now, or one either side) whose code is ``code``, if not yet spent."""
        totp = pyotp.TOTP(self._box.open(sealed), interval=_STEP_S)
        now_step = int(self._clock()) // _STEP_S
        for step in (now_step, now_step - 1, now_step + 1):
            if step > last_step and pyotp.utils.strings_equal(totp.at(step * _STEP_S), code):
                return step
        return None


def _agent_id(conn: Connection, username: str) -> int:
    found = conn.execute(select(agents.c.id).where(agents.c.username == username)).first()
    if found is None:
        raise NotFound("no such user", details={"username": username[:64]})
    return int(found.id)


def _row(conn: Connection, username: str) -> Row[Any] | None:
    query = (
        select(totp_secrets)
        .join(agents, agents.c.id == totp_secrets.c.agent_id)
        .where(agents.c.username == username)
    )
    return conn.execute(query).first()
