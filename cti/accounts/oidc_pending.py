"""Single sign-ons in progress, kept in the store so any daemon process can finish them.

A sign-in leaves the daemon for the provider and comes back, maybe to another process behind
the load balancer, or after a restart. What its answer must match (state, nonce and the PKCE
verifier, RFC 7636) is a row of ``oidc_pending``, keyed by a hash of the random value in the
browser's short-lived cookie: only the browser that started a sign-in can finish it (no login
CSRF), each row is used once (taken in one transaction), the verifier is sealed, and rows older
than ``ttl_s`` are refused and swept.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert

from cti.errors import AuthenticationRequired
from cti.secretbox import SecretBox
from cti.store import Store
from cti.store.session_tables import oidc_pending

__all__ = ["Pending", "PendingSignIns"]


@dataclass(frozen=True, slots=True)
class Pending:
    """What the browser's sign-in carries between the redirect out and the one back."""

    state: str
    nonce: str
    verifier: str
    url: str = ""


class PendingSignIns:
    """The store's sign-ins in progress; every daemon process sharing the store sees them."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        ttl_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._box, self.ttl_s, self._clock = store, box, ttl_s, clock

    async def keep(self, pending: Pending) -> str:
        """Keep ``pending``; return the random key the browser's cookie carries."""
        key = secrets.token_urlsafe(32)
        await self._store.aio.run(self._insert, _hash(key), pending)
        return key

    async def take(self, key: str) -> Pending:
        """The sign-in of ``key``, removed (once only); AuthenticationRequired when there is none
        (another browser, used already, or older than ``ttl_s``)."""
        found = await self._store.aio.run(self._delete, _hash(key)) if key else None
        if found is None:
            raise AuthenticationRequired(
                "this sign-in was not started in this browser, was used already or took too "
                "long; start again",
                details={"reason": "sign_in_unknown"},
            )
        return found

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _insert(self, key: str, pending: Pending) -> None:
        now = self._now()
        with self._store.writing("oidc.pending") as conn:
            conn.execute(delete(oidc_pending).where(oidc_pending.c.expires_at < now))
            conn.execute(
                insert(oidc_pending).values(
                    id=key,
                    state=pending.state,
                    nonce=pending.nonce,
                    verifier=self._box.seal(pending.verifier),
                    expires_at=now + timedelta(seconds=self.ttl_s),
                )
            )

    def _delete(self, key: str) -> Pending | None:
        with self._store.writing("oidc.pending_take") as conn:
            row = conn.execute(
                delete(oidc_pending)
                .where(oidc_pending.c.id == key)
                .returning(
                    oidc_pending.c.state,
                    oidc_pending.c.nonce,
                    oidc_pending.c.verifier,
                    oidc_pending.c.expires_at,
                )
            ).first()
        if row is None or row.expires_at < self._now():
            return None
        return Pending(row.state, row.nonce, self._box.open(row.verifier))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
