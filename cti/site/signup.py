"""One-time signup links (issue 16, part 4): an admin issues an agent a link (and its QR code);
the agent opens it, sets a password, and gets their device configured.

* Only SHA-256 of a token is stored (``signup_tokens``); the link is shown once.
* The first browser to open a link binds it: a random session value goes to a cookie and its
  hash to the row; every later step must carry it (another browser gets 403).
* A link expires (``valid_for_s``), can be revoked, and is spent once the device is configured
  (the desktop chosen, or a softphone document fetched): after that, or after expiry or
  revocation, it is refused with 410.
* The mobile softphone's account is the agent's ``mobile`` device (added in the wizard): the
  Linphone remote-provisioning XML and a plain JSON carry its SIP account, transport and codecs.
* Every step is audited (``site.signup_*``), refusals too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import segno
from sqlalchemy import Connection, insert, select, update

from cti.errors import Conflict, CtiError, NotFound, PermissionDenied, ValidationFailed
from cti.secretbox import SecretBox
from cti.site import records
from cti.site.password_policy import check_password
from cti.site.phone_files import CODECS, PhoneAccount, render_linphone
from cti.site.phone_server import PhoneServerSettings
from cti.site.service import AuditSink
from cti.store import Store
from cti.store.models import agents
from cti.store.site_tables import signup_tokens, site_devices

__all__ = ["LinkGone", "SignupLinks"]

_MAX_VALID_S = 30 * 24 * 3600
_MAX_AGENTS = 1000
Kind = Literal["desktop", "linphone", "json"]
T = TypeVar("T")


class LinkGone(CtiError):
    """410: the link was used, expired or revoked."""

    error_id = "signup.gone"
    status = 410


class OtherBrowser(PermissionDenied):
    error_id = "signup.other_session"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Token:
    id: int
    agent_id: int
    username: str
    display_name: str
    expires_at: datetime
    opened_at: datetime | None
    session_hash: str | None
    password_set_at: datetime | None
    used_at: datetime | None
    revoked_at: datetime | None


def _find(conn: Connection, token: str) -> _Token | None:
    query = (
        select(signup_tokens, agents.c.username, agents.c.display_name)
        .select_from(signup_tokens.join(agents))
        .where(signup_tokens.c.token_hash == _sha(token))
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    keys = _Token.__slots__
    return _Token(**{k: getattr(row, k) for k in keys})


class SignupLinks:
    """Issue, revoke and walk through signup links."""

    def __init__(
        self,
        store: Store,
        secrets_box: SecretBox,
        audit: AuditSink,
        phones: PhoneServerSettings,
        *,
        public_origin: str,
        realm: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._box = secrets_box
        self._audit = audit
        self._phones = phones
        self._origin = public_origin.rstrip("/")
        self._realm = realm
        self._clock = clock or store.clock

    # ------------------------------------------------------------------------ admin side
    async def issue(self, usernames: Any, valid_for_s: Any, actor: str) -> list[dict[str, Any]]:
        """Links for ``usernames`` (all or none), each with its QR code as SVG; shown once."""
        if (
            not isinstance(usernames, list)
            or not 1 <= len(usernames) <= _MAX_AGENTS
            or not all(isinstance(u, str) for u in usernames)
        ):
            message = f"users: a list of 1 to {_MAX_AGENTS} usernames"
            raise ValidationFailed(message, details={"field": "users"})
        valid = (
            valid_for_s if isinstance(valid_for_s, int) and not isinstance(valid_for_s, bool) else 0
        )
        if not 60 <= valid <= _MAX_VALID_S:
            message = f"valid_for_s: 60 to {_MAX_VALID_S} seconds"
            raise ValidationFailed(message, details={"field": "valid_for_s"})
        tokens = {u: secrets.token_urlsafe(32) for u in dict.fromkeys(usernames)}
        issued = await self._store.aio.run(self._insert, tokens, valid, actor)
        out = []
        for username, (key, expires) in issued.items():
            url = f"{self._origin}/signup/{tokens[username]}"
            qr = segno.make(url, error="m").svg_inline(scale=4)
            out.append({"id": key, "user": username, "url": url, "qr_svg": qr,
                        "expires_at": expires.isoformat()})  # fmt: skip
        self._audit("site.signup_issued", {"users": list(issued), "valid_for_s": valid}, actor)
        return out

    def _insert(
        self, tokens: dict[str, str], valid_s: int, actor: str
    ) -> dict[str, tuple[int, datetime]]:
        now = self._clock()
        expires = now + timedelta(seconds=valid_s)
        out = {}
        with self._store.writing("site.signup_issue") as conn:
            ids = dict(
                conn.execute(
                    select(agents.c.username, agents.c.id).where(agents.c.username.in_(tokens))
                ).all()
            )
            missing = sorted(set(tokens) - ids.keys())
            if missing:
                raise NotFound(
                    "users: no such user", details={"field": "users", "users": missing[:20]}
                )
            for username, token in tokens.items():
                statement = insert(signup_tokens).values(
                    token_hash=_sha(token),
                    agent_id=ids[username],
                    created_by=actor[:64],
                    created_at=now,
                    expires_at=expires,
                )
                key = conn.execute(statement.returning(signup_tokens.c.id)).scalar_one()
                out[username] = (int(key), expires)
        return out

    async def revoke(self, key: int, actor: str) -> None:
        def run() -> int:
            with self._store.writing("site.signup_revoke") as conn:
                done = conn.execute(
                    update(signup_tokens)
                    .where(signup_tokens.c.id == key, signup_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=self._clock())
                )
                return int(done.rowcount)

        if not await self._store.aio.run(run):
            raise NotFound("no such signup link (or revoked already)", details={"id": key})
        self._audit("site.signup_revoked", {"id": key}, actor)

    # ------------------------------------------------------------------------ agent side
    async def open(self, token: str, session: str | None) -> tuple[dict[str, Any], str]:
        """Open a link: the first browser binds it (a new session value is returned for its
        cookie); the same browser may come back until the link is spent."""
        found, bound = await self._run(self._open, token, session)
        self._audit("site.signup_opened", {"id": found.id, "user": found.username}, None)
        state: dict[str, Any] = {
            "user": found.username,
            "display_name": found.display_name,
            "password_set": found.password_set_at is not None,
            "expires_at": found.expires_at.isoformat(),
            "devices": ["desktop", "linphone", "json"],
        }
        return state, bound

    def _live(self, conn: Connection, token: str, session: str | None) -> _Token:
        found = _find(conn, token) if 20 <= len(token) <= 100 else None
        if found is None:
            raise NotFound("no such signup link")
        why = (
            "revoked" if found.revoked_at is not None
            else "used" if found.used_at is not None
            else "expired" if found.expires_at <= self._clock()
            else None
        )  # fmt: skip
        if why is not None:
            raise LinkGone(f"this signup link was {why}; ask your admin for a new one",
                           details={"reason": why, "id": found.id})  # fmt: skip
        if found.session_hash is not None and (
            session is None or not secrets.compare_digest(found.session_hash, _sha(session))
        ):
            raise OtherBrowser("this signup link was opened in another browser",
                               details={"reason": "other_session", "id": found.id})  # fmt: skip
        return found

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a step on the store's threads; audit a refused link here, on the loop."""
        try:
            return await self._store.aio.run(fn, *args)
        except (LinkGone, OtherBrowser, NotFound) as exc:
            details: dict[str, Any] = {
                k: exc.details[k] for k in ("id", "reason") if k in exc.details
            }
            self._audit("site.signup_refused", details or {"reason": "unknown"}, None)
            raise

    def _open(self, token: str, session: str | None) -> tuple[_Token, str]:
        with self._store.writing("site.signup_open") as conn:
            found = _find(conn, token) if 20 <= len(token) <= 100 else None
            if found is not None and found.session_hash is None:
                session = secrets.token_urlsafe(32)
                conn.execute(
                    update(signup_tokens)
                    .where(signup_tokens.c.id == found.id, signup_tokens.c.session_hash.is_(None))
                    .values(session_hash=_sha(session), opened_at=self._clock())
                )
            found = self._live(conn, token, session)
            assert session is not None
            return found, session

    async def set_password(self, token: str, session: str | None, password: Any) -> None:
        def run() -> _Token:
            with self._store.reading("site.signup_password") as conn:
                found = self._live(conn, token, session)
            clean = check_password(password, found.username)
            self._store.set_password(found.username, clean)
            with self._store.writing("site.signup_password") as conn:
                conn.execute(
                    update(signup_tokens)
                    .where(signup_tokens.c.id == found.id)
                    .values(password_set_at=self._clock())
                )
            return found

        try:
            found = await self._run(run)
        except ValidationFailed as exc:
            self._audit("site.signup_password_refused", {"rule": exc.details.get("rule")}, None)
            raise
        self._audit("site.signup_password_set", {"id": found.id, "user": found.username}, None)

    async def configure(self, token: str, session: str | None, kind: str) -> tuple[str, str]:
        """Spend the link on configuring ``kind``: ``desktop`` (where to sign in), ``linphone``
        (remote provisioning XML) or ``json``; returns (body, media type)."""
        if kind not in ("desktop", "linphone", "json"):
            raise ValidationFailed("device: desktop, linphone or json", details={"field": "device"})
        found, device = await self._run(self._spend, token, session, kind)
        self._audit("site.signup_configured", {"id": found.id, "user": found.username,
                                               "device": kind}, None)  # fmt: skip
        if kind == "desktop":
            return _json({"next": f"{self._origin}/", "user": found.username}), "application/json"
        assert device is not None
        account = self._account(found, device)
        if kind == "linphone":
            return render_linphone(account, self._realm), "application/xml; charset=utf-8"
        return _json(self._plain(account)), "application/json"

    def _spend(
        self, token: str, session: str | None, kind: str
    ) -> tuple[_Token, records.DeviceRow | None]:
        with self._store.writing("site.signup_configure") as conn:
            found = self._live(conn, token, session)
            if found.password_set_at is None:
                raise Conflict("set your password first", details={"field": "password"})
            mac = None
            if kind != "desktop":
                mac = conn.execute(
                    select(site_devices.c.mac).where(
                        site_devices.c.agent_id == found.agent_id, site_devices.c.model == "mobile"
                    )
                ).scalar()
                if mac is None or self._phones.sip_host is None:
                    raise Conflict("no mobile softphone is set up for you; ask your admin",
                                   details={"field": "device"})  # fmt: skip
            conn.execute(
                update(signup_tokens)
                .where(signup_tokens.c.id == found.id)
                .values(used_at=self._clock())
            )
        device = None if mac is None else records.find_device(self._store, str(mac))
        return found, device

    def _account(self, found: _Token, device: records.DeviceRow) -> PhoneAccount:
        assert self._phones.sip_host is not None
        return PhoneAccount(
            mac=device.mac,
            model="Mobile softphone",
            username=found.username,
            display_name=found.display_name or found.username,
            label=device.extension or found.username,
            sip_user=device.endpoint,
            auth_user=device.endpoint,
            password=self._box.open(device.sip_secret),
            server_host=self._phones.sip_host,
            server_port=self._phones.sip_port,
            transport=self._phones.transport,
        )

    def _plain(self, account: PhoneAccount) -> dict[str, Any]:
        return {
            "account": {
                "username": account.sip_user,
                "auth_username": account.auth_user,
                "password": account.password,
                "domain": account.server_host,
                "realm": self._realm,
                "display_name": account.display_name,
                "extension": account.label,
            },
            "transport": {
                "protocol": account.transport,
                "host": account.server_host,
                "port": account.server_port,
            },
            "codecs": [mime for mime, _ in CODECS],
        }


def _json(value: Any) -> str:
    return json.dumps(value)
