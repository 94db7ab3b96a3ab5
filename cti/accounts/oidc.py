"""Single sign-on through an OpenID Connect provider: the authorization code flow with PKCE.

:meth:`OidcLogin.start` makes the state, nonce and PKCE verifier (RFC 7636, S256) and the
provider's authorization URL (authlib's OAuth2 client); :meth:`OidcLogin.finish` checks the
state, exchanges the code with the verifier, checks the ID token (signature from the provider's
JWKS, issuer, audience, expiry, nonce; PyJWT) and reads the user's claims from userinfo (same
subject). The user's role is the highest one that ``[oidc] roles`` maps any of their groups to
(none: refused). On first sign-in the user is created without a password and linked to the
provider account (issuer, subject); later sign-ins update name and role. A local account of the
same name that is not linked is never taken over (409).

While signed in, :meth:`OidcLogin.revalidate` asks the provider at most every
``revalidate_s`` whether the user still holds (userinfo with the access token, else a refresh):
a user disabled at the provider loses their session at the next request after that.
:class:`OidcSessions` wraps the store's session book with this check. The provider is reached
with ``requests`` on worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session

from cti.accounts.oidc_pending import Pending, PendingSignIns
from cti.accounts.oidc_rows import link_user, remember_session, session_row, set_checked
from cti.accounts.sessions import session_key
from cti.config import OidcSettings
from cti.errors import AuthenticationRequired, Conflict, CtiError, PermissionDenied
from cti.principal import Principal, Role
from cti.secretbox import SecretBox
from cti.store import Store

__all__ = ["OidcLogin", "OidcSessions", "Pending", "ProviderUnavailable"]

log = logging.getLogger(__name__)

_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


class ProviderUnavailable(CtiError):
    """The identity provider did not answer as expected."""

    error_id = "sso.unavailable"
    status = 502


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    access_token: str
    refresh_token: str | None


class Registry(Protocol):
    """The session book this wraps (agent_ui.session_guard.SessionRegistry)."""

    async def begin(
        self, session_id: str, username: str, role: str, expires_at: float, idle_s: float
    ) -> bool: ...
    async def check(self, session_id: str) -> str | None: ...
    async def end(self, session_id: str, reason: str) -> None: ...
    async def ended(self, session_ids: Collection[str]) -> dict[str, str]: ...


class OidcLogin:
    """The product as an OpenID Connect relying party of one provider."""

    def __init__(
        self,
        settings: OidcSettings,
        store: Store,
        box: SecretBox,
        redirect_uri: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.issuer is None:
            raise ValueError("OIDC sign-in needs [oidc] issuer")
        self.settings, self._store, self._box = settings, store, box
        self.box = box  # also seals the sign-in card's message of a failed sign-in
        self.issuer = settings.issuer.rstrip("/")
        self.redirect_uri, self._clock = redirect_uri, clock
        secret = settings.client_secret
        if secret is None and settings.client_secret_file is not None:
            secret_text = settings.client_secret_file.read_text().strip()
        else:
            secret_text = secret.get_secret_value() if secret is not None else ""
        self._secret = secret_text
        self.pending = PendingSignIns(store, box, clock=clock)  # sign-ins between redirects

    # ------------------------------------------------------------------------ the provider
    @cached_property
    def _metadata(self) -> dict[str, Any]:
        url = self.issuer + "/.well-known/openid-configuration"
        found: dict[str, Any] = self._get(url).json()
        if found.get("issuer", "").rstrip("/") != self.issuer:
            raise ProviderUnavailable("the provider's metadata names another issuer")
        return found

    @cached_property
    def _jwks(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(self._metadata["jwks_uri"], timeout=int(self.settings.timeout_s))

    def _get(self, url: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            reply = requests.get(url, headers=headers, timeout=self.settings.timeout_s)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"the sign-in provider cannot be reached ({exc})") from exc
        if reply.status_code >= 500:
            raise ProviderUnavailable(f"the sign-in provider answered {reply.status_code}")
        return reply

    def _client(self, **kwargs: Any) -> OAuth2Session:
        return OAuth2Session(
            self.settings.client_id,
            self._secret or None,
            token_endpoint_auth_method="client_secret_basic" if self._secret else "none",
            scope=" ".join(self.settings.scopes),
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            default_timeout=self.settings.timeout_s,
            **kwargs,
        )

    # ------------------------------------------------------------------------ signing in
    async def start(self) -> Pending:
        """A new sign-in: where to send the browser, and what to check when it comes back."""
        return await asyncio.to_thread(self._start)

    def _start(self) -> Pending:
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        url, _ = self._client().create_authorization_url(
            self._metadata["authorization_endpoint"],
            state=state,
            code_verifier=verifier,
            nonce=nonce,
        )
        return Pending(state, nonce, verifier, url)

    async def finish(self, pending: Pending, state: str, code: str) -> SignedIn:
        """Check the provider's answer; return the user, created or updated here."""
        if not secrets.compare_digest(pending.state, state):
            raise AuthenticationRequired("the sign-in answer does not match; start again")
        return await asyncio.to_thread(self._finish, pending, code)

    def _finish(self, pending: Pending, code: str) -> SignedIn:
        client = self._client(state=pending.state)
        try:
            token = client.fetch_token(
                self._metadata["token_endpoint"], code=code, code_verifier=pending.verifier
            )
        except Exception as exc:  # authlib raises its OAuthError or requests' errors
            raise AuthenticationRequired(f"the sign-in provider refused the code ({exc})") from exc
        claims = self._id_token(str(token.get("id_token", "")), pending.nonce)
        info = self._get(self._metadata["userinfo_endpoint"], token["access_token"])
        if info.status_code != 200 or info.json().get("sub") != claims["sub"]:
            raise AuthenticationRequired("the sign-in provider's user information is not right")
        principal = self._provision(claims["sub"], info.json())
        return SignedIn(principal, token["access_token"], token.get("refresh_token"))

    def _id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            key = self._jwks.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self.settings.client_id,
                issuer=self._metadata["issuer"],
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationRequired(f"the sign-in's ID token is not valid ({exc})") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise AuthenticationRequired("the sign-in's ID token is for another sign-in")
        return claims

    def role_of(self, groups: object) -> Role:
        """The highest role any of ``groups`` maps to; PermissionDenied for none."""
        names = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        roles = [Role(self.settings.roles[g]) for g in names if g in self.settings.roles]
        if not roles:
            raise PermissionDenied(
                "your groups at the sign-in provider give you no role here; ask an admin",
                details={"reason": "no_role"},
            )
        return max(roles, key=_RANK.__getitem__)

    def _provision(self, subject: str, info: dict[str, Any]) -> Principal:
        username = str(info.get(self.settings.username_claim) or "")
        if not (1 <= len(username) <= 64 and username.isprintable()):
            raise AuthenticationRequired("the sign-in provider gave no usable username")
        role = self.role_of(info.get(self.settings.groups_claim))
        name = str(info.get("name") or username)[:255]
        with self._store.writing("oidc.link") as conn:
            status, username = link_user(
                conn,
                issuer=self.issuer,
                subject=subject,
                username=username,
                name=name,
                role=role,
                now=self._store.clock(),
            )
        if status == "taken":
            raise Conflict(
                "a local user has that name; an admin must rename one of them",
                details={"username": username},
            )
        if status == "disabled":
            raise PermissionDenied("your account here is disabled", details={"reason": "disabled"})
        return Principal(username, name, role)

    # ------------------------------------------------------------------------ staying signed in
    async def remember(self, session_id: str, signed_in: SignedIn, expires_at: float) -> None:
        """Keep the provider's tokens of the new session (sealed) for :meth:`revalidate`."""
        refresh = signed_in.refresh_token
        values = {
            "id": session_key(session_id),
            "username": signed_in.principal.username,
            "access_token": self._box.seal(signed_in.access_token),
            "refresh_token": self._box.seal(refresh) if refresh else None,
            "checked_at": self._now(),
            "expires_at": datetime.fromtimestamp(expires_at, UTC),
        }
        await self._store.aio.run(self._write_session, values)

    def _write_session(self, values: dict[str, Any]) -> None:
        with self._store.writing("oidc.session") as conn:
            remember_session(conn, values, self._now())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def revalidate(self, session_id: str) -> str | None:
        """Why the session must end because of the provider (None: it holds, or is local)."""
        row = await self._store.aio.run(self._read_session, session_id)
        every = timedelta(seconds=self.settings.revalidate_s)
        if row is None or row.checked_at + every > self._now():
            return None
        try:
            reason = await asyncio.to_thread(self._ask_provider, row)
        except ProviderUnavailable as exc:  # keep the session; ask again next time
            log.warning("could not check %s at the sign-in provider: %s", row.username, exc)
            return None
        if reason is None:
            await self._store.aio.run(self._touch, row.id)
        return reason

    def _read_session(self, session_id: str) -> Any:
        with self._store.reading("oidc.check") as conn:
            return session_row(conn, session_key(session_id))

    def _touch(self, key: str, tokens: dict[str, str | None] | None = None) -> None:
        with self._store.writing("oidc.checked") as conn:
            set_checked(conn, key, self._now(), tokens)

    def _ask_provider(self, row: Any) -> str | None:
        info = self._get(self._metadata["userinfo_endpoint"], self._box.open(row.access_token))
        if info.status_code == 200:
            return None
        if row.refresh_token is None:
            return "signed out at the identity provider"
        try:
            token = self._client().refresh_token(
                self._metadata["token_endpoint"], refresh_token=self._box.open(row.refresh_token)
            )
        except Exception:  # invalid_grant: the account or its grant is gone there
            return "signed out at the identity provider"
        sealed = {
            "access_token": self._box.seal(token["access_token"]),
            "refresh_token": self._box.seal(token["refresh_token"])
            if token.get("refresh_token")
            else None,
        }
        self._touch(row.id, sealed)
        return None


class OidcSessions:
    """The store's session book, plus: a single sign-on session holds while the provider
    still knows its user (checked at most every ``[oidc] revalidate_s``)."""

    def __init__(self, inner: Registry, login: OidcLogin) -> None:
        self._inner, self._login = inner, login

    async def begin(
        self, session_id: str, username: str, role: str, expires_at: float, idle_s: float
    ) -> bool:
        return await self._inner.begin(session_id, username, role, expires_at, idle_s)

    async def check(self, session_id: str) -> str | None:
        reason = await self._inner.check(session_id)
        return reason if reason is not None else await self._at_provider(session_id)

    async def end(self, session_id: str, reason: str) -> None:
        await self._inner.end(session_id, reason)

    async def ended(self, session_ids: Collection[str]) -> dict[str, str]:
        gone = await self._inner.ended(session_ids)
        for session_id in session_ids:
            if session_id not in gone and (reason := await self._at_provider(session_id)):
                gone[session_id] = reason
        return gone

    async def _at_provider(self, session_id: str) -> str | None:
        reason = await self._login.revalidate(session_id)
        if reason is not None:
            await self._inner.end(session_id, reason)
        return reason
