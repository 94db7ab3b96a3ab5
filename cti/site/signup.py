"""One-time signup links (issue 16, part 4): an admin issues an agent a link (and its QR code);
the agent opens it, sets a password, and gets their device configured.

* Only SHA-256 of a token is stored (``signup_tokens``); the link is shown once.
* The first browser to open a link binds it: a random session value goes to a cookie and its
  hash to the row; every later step must carry it (another browser gets 403).
* A link expires (``valid_for_s``), can be revoked, and is spent once the device is configured:
  the desktop chosen, or the mobile softphone's document fetched. After that, or after expiry
  or revocation, it is refused with 410.
* A softphone fetching its document cannot carry the browser's cookie, so choosing "mobile"
  gives the browser a second token for the download URL (shown as a QR code): short-lived
  (:data:`DOWNLOAD_TTL_S`, never past the link), single use, bound to the session that asked
  for it (a new one replaces the last), stored hashed on the link's row.
* The mobile softphone's account is the agent's ``mobile`` device (added in the wizard):
  :mod:`cti.site.softphone` builds Linphone's XML and the plain JSON.
* Every step is audited (``site.signup_*``), refusals too.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import segno
from sqlalchemy import Connection, insert, select, update

from cti.errors import Conflict, CtiError, NotFound, PermissionDenied, ValidationFailed
from cti.secretbox import SecretBox
from cti.site import records
from cti.site.password_policy import check_password
from cti.site.phone_server import PhoneServerSettings
from cti.site.service import AuditSink
from cti.site.signup_rows import LinkRow, find_link, link_state, links_listing
from cti.site.softphone import DOCUMENTS, DocumentKind, mobile_account, softphone_document
from cti.store import Store
from cti.store.models import agents
from cti.store.site_tables import signup_tokens, site_devices

__all__ = ["DOWNLOAD_TTL_S", "LinkGone", "SignupLinks"]

DOWNLOAD_TTL_S = 600
_MAX_VALID_S = 30 * 24 * 3600
_MAX_AGENTS = 1000
T = TypeVar("T")


class LinkGone(CtiError):
    """410: the link was used, expired or revoked (or its download token expired)."""

    error_id = "signup.gone"
    status = 410


class OtherBrowser(PermissionDenied):
    error_id = "signup.other_session"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _qr(url: str) -> str:
    """The QR code of ``url`` as an SVG ``data:`` URI (an <img> under the page's CSP)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=4))


class SignupLinks:
    """Issue, list and revoke signup links; walk an agent through one."""

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
        """Links for ``usernames`` (all or none), each with its QR code; shown once."""
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
            qr = segno.make(url, error="m")
            out.append({"id": key, "user": username, "url": url, "qr": _qr(url),
                        "qr_svg": qr.svg_inline(scale=4),
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

    async def listing(self) -> list[dict[str, Any]]:
        """The latest links, newest first, each with its state (never its token)."""
        return await self._store.aio.run(links_listing, self._store, self._clock())

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
        return self._state(found), bound

    async def state(self, token: str, session: str | None) -> dict[str, Any]:
        """Where the link stands, for the browser that opened it (the page polls this while
        the softphone fetches its document; 410 ``used`` once it has)."""

        def run() -> LinkRow:
            with self._store.reading("site.signup_state") as conn:
                return self._live(conn, token, session)

        return self._state(await self._store.aio.run(run))

    @staticmethod
    def _state(found: LinkRow) -> dict[str, Any]:
        return {
            "user": found.username,
            "display_name": found.display_name,
            "password_set": found.password_set_at is not None,
            "expires_at": found.expires_at.isoformat(),
            "devices": ["desktop", "mobile"],
        }

    def _live(self, conn: Connection, token: str, session: str | None) -> LinkRow:
        found = find_link(conn, token_hash=_sha(token)) if 20 <= len(token) <= 100 else None
        if found is None:
            raise NotFound("no such signup link")
        self._check_live(found)
        if found.session_hash is None:
            raise Conflict("open the link first", details={"reason": "not_opened", "id": found.id})
        if session is None or not secrets.compare_digest(found.session_hash, _sha(session)):
            raise OtherBrowser("this signup link was opened in another browser",
                               details={"reason": "other_session", "id": found.id})  # fmt: skip
        return found

    def _check_live(self, found: LinkRow) -> None:
        why = link_state(found, self._clock())
        if why in ("revoked", "used", "expired"):
            raise LinkGone(f"this signup link was {why}; ask your admin for a new one",
                           details={"reason": why, "id": found.id})  # fmt: skip

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

    def _open(self, token: str, session: str | None) -> tuple[LinkRow, str]:
        with self._store.writing("site.signup_open") as conn:
            found = find_link(conn, token_hash=_sha(token)) if 20 <= len(token) <= 100 else None
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
        def run() -> LinkRow:
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

    async def use_desktop(self, token: str, session: str | None) -> dict[str, Any]:
        """Spend the link on this browser: the agent desktop (with its phone) is next."""

        def run() -> LinkRow:
            with self._store.writing("site.signup_desktop") as conn:
                found = self._ready(conn, token, session)
                self._spend(conn, found)
                return found

        found = await self._run(run)
        self._audit("site.signup_configured", {"id": found.id, "user": found.username,
                                               "device": "desktop"}, None)  # fmt: skip
        return {"next": "/agent", "user": found.username}

    async def offer_mobile(self, token: str, session: str | None) -> dict[str, Any]:
        """A single-use download token for the softphone, bound to this session (replacing
        any earlier one): its URLs and the QR code of the Linphone URL."""
        download = secrets.token_urlsafe(32)

        def run() -> tuple[LinkRow, datetime]:
            with self._store.writing("site.signup_mobile") as conn:
                found = self._ready(conn, token, session)
                self._mobile_mac(conn, found.agent_id)
                until = min(self._clock() + timedelta(seconds=DOWNLOAD_TTL_S), found.expires_at)
                conn.execute(
                    update(signup_tokens)
                    .where(signup_tokens.c.id == found.id)
                    .values(download_hash=_sha(download), download_expires_at=until)
                )
                return found, until

        found, until = await self._run(run)
        self._audit("site.signup_download_issued", {"id": found.id, "user": found.username}, None)
        urls = {kind: f"{self._origin}/softphone/{download}/{name}"
                for kind, (name, _) in DOCUMENTS.items()}  # fmt: skip
        return {"urls": urls, "qr": _qr(urls["linphone"]), "expires_at": until.isoformat()}

    async def fetch_document(self, download: str, kind: str) -> tuple[str, str]:
        """The softphone's document for a download token (no cookie: the token is the proof);
        spends the token and the link. Returns (body, media type)."""
        if kind not in DOCUMENTS:
            raise NotFound("no such document", details={"reason": "kind"})
        doc: DocumentKind = "linphone" if kind == "linphone" else "json"

        def run() -> tuple[LinkRow, records.DeviceRow]:
            with self._store.writing("site.signup_download") as conn:
                found = None
                if 20 <= len(download) <= 100:
                    found = find_link(conn, download_hash=_sha(download))
                if found is None:
                    raise NotFound("no such download", details={"reason": "unknown_download"})
                self._check_live(found)
                expires = found.download_expires_at
                if expires is None or expires <= self._clock():
                    raise LinkGone(
                        "this download expired; choose the mobile softphone again",
                        details={"reason": "download_expired", "id": found.id},
                    )
                mac = self._mobile_mac(conn, found.agent_id)
                self._spend(conn, found)
            device = records.find_device(self._store, mac)
            assert device is not None
            return found, device

        found, device = await self._run(run)
        self._audit("site.signup_configured", {"id": found.id, "user": found.username,
                                               "device": doc}, None)  # fmt: skip
        account = mobile_account(
            device, self._box.open(device.sip_secret), self._phones, found.display_name
        )
        return softphone_document(doc, account, self._realm), DOCUMENTS[doc][1]

    def _ready(self, conn: Connection, token: str, session: str | None) -> LinkRow:
        found = self._live(conn, token, session)
        if found.password_set_at is None:
            raise Conflict("set your password first", details={"field": "password"})
        return found

    def _mobile_mac(self, conn: Connection, agent_id: int) -> str:
        mac = conn.execute(
            select(site_devices.c.mac).where(
                site_devices.c.agent_id == agent_id, site_devices.c.model == "mobile"
            )
        ).scalar()
        if mac is None or self._phones.sip_host is None:
            raise Conflict("no mobile softphone is set up for you; ask your admin",
                           details={"field": "device"})  # fmt: skip
        return str(mac)

    def _spend(self, conn: Connection, found: LinkRow) -> None:
        conn.execute(
            update(signup_tokens)
            .where(signup_tokens.c.id == found.id)
            .values(used_at=self._clock())
        )
