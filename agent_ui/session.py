"""Sessions and the login throttle: the web app's state about who is who (tickets: tickets.py).

A session lives in a signed cookie (itsdangerous, HMAC-SHA256): the principal, a session id, a
CSRF token and an expiry. The signature only proves this daemon issued it: whether it may still
be used (logout, idle timeout, account changes) is checked on the server at every request and
socket (:mod:`agent_ui.session_guard`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import SecretStr

from cti.errors import ConfigError, RateLimited
from cti.principal import Principal, Role

__all__ = ["LoginThrottle", "Session", "SessionCodec"]

MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    principal: Principal
    csrf_token: str
    expires_at: float  # wall clock (the cookie outlives the process)


class SessionCodec:
    """Issue and read session cookies (signature and expiry; the registry says the rest)."""

    def __init__(
        self,
        secret: SecretStr,
        *,
        max_age_s: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        raw = secret.get_secret_value()
        if len(raw.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the session secret must be at least {MIN_SECRET_BYTES} bytes long",
                details={"setting": "http.session_secret"},
            )
        self._serializer = URLSafeSerializer(
            raw, salt="cti.session.v1", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._max_age = max_age_s
        self._now = wall_clock

    @property
    def max_age_s(self) -> float:
        return self._max_age

    def issue(self, principal: Principal) -> tuple[Session, str]:
        """Return a new session (new id and CSRF token: no fixation) and its cookie value."""
        session = Session(
            session_id=secrets.token_urlsafe(16),
            principal=principal,
            csrf_token=secrets.token_urlsafe(24),
            expires_at=self._now() + self._max_age,
        )
        payload = {
            "sid": session.session_id,
            "u": principal.username,
            "n": principal.display_name,
            "r": str(principal.role),
            "csrf": session.csrf_token,
            "exp": session.expires_at,
        }
        return session, self._serializer.dumps(payload)

    def read(self, cookie: str | None) -> Session | None:
        """Return the session in ``cookie``, or None if absent, forged or expired."""
        if not cookie or len(cookie) > 4096:
            return None
        try:
            payload = self._serializer.loads(cookie)
            session = Session(
                session_id=str(payload["sid"]),
                principal=Principal(str(payload["u"]), str(payload["n"]), Role(payload["r"])),
                csrf_token=str(payload["csrf"]),
                expires_at=float(payload["exp"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return self.check(session)

    def check(self, session: Session) -> Session | None:
        """Return ``session`` if it has not expired."""
        return session if session.expires_at > self._now() else None


class LoginThrottle:
    """Slow password guessing down without letting anyone lock a user out.

    Failures count per (username, client address): the first ``user_failures`` in a window are
    free, then every further attempt of that user from that address waits a delay that doubles
    with each failure (``base_delay_s``, 2x, 4x, ... up to ``max_delay_s``). Another address, such
    as the user's own desk, is not slowed, so wrong passwords for ``root`` from anywhere no longer
    keep ``root`` out. Each address also has a budget of attempts per window (guessing across
    many usernames). A success clears that user's failures from that address.
    """

    def __init__(
        self,
        *,
        user_failures: int,
        user_window_s: float,
        ip_attempts: int,
        ip_window_s: float,
        base_delay_s: float = 1.0,
        max_delay_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._free, self._window = user_failures, user_window_s
        self._base, self._cap, self._max_keys = base_delay_s, max_delay_s, max_keys
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # -> (count, last at)
        self._ip = _Window(ip_attempts, ip_window_s, max_keys)
        self._reported: set[tuple[str, str]] = set()
        self._now = clock

    def delay_after(self, failures: int) -> float:
        """How long the next attempt waits after ``failures`` failures in a row."""
        if failures < self._free:
            return 0.0
        return float(min(self._cap, self._base * 2 ** (failures - self._free)))

    def check(self, username: str, address: str) -> None:
        """Raise RateLimited if this attempt must not reach the authenticator; count it."""
        now = self._now()
        failures, last = self._current((username.casefold(), address), now)
        wait = max(self._ip.wait(address, now), last + self.delay_after(failures) - now)
        if wait > 0:
            raise RateLimited(
                "too many login attempts; try again later",
                details={"retry_after_s": int(wait) + 1},
            )
        self._ip.add(address, now)

    def record(self, username: str, address: str, *, success: bool) -> int:
        """Count the outcome; return the failures in a row of that user from that address."""
        key, now = (username.casefold(), address), self._now()
        self._reported.discard(key)
        if success:
            self._failures.pop(key, None)
            return 0
        if key not in self._failures and len(self._failures) >= self._max_keys:
            self._evict(now)
        failures = self._current(key, now)[0] + 1
        self._failures[key] = (failures, now)
        return failures

    def _current(self, key: tuple[str, str], now: float) -> tuple[int, float]:
        """The failures of ``key`` still counting: they lapse a window after their delay ends."""
        failures, last = self._failures.get(key, (0, 0.0))
        if failures and now - last > self._window + self.delay_after(failures):
            del self._failures[key]
            return 0, 0.0
        return failures, last

    def _evict(self, now: float) -> None:
        stale = [k for k in list(self._failures) if self._current(k, now)[0] == 0]
        for key in stale or list(self._failures)[: max(1, self._max_keys // 10)]:
            self._failures.pop(key, None)
            self._reported.discard(key)

    def first_refusal(self, username: str, address: str) -> bool:
        """True once per run of refusals of this user from this address (for the audit log)."""
        key = (username.casefold(), address)
        if key in self._reported:
            return False
        self._reported.add(key)
        return True


class _Window:
    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self._limit, self._window, self._max_keys = limit, window_s, max_keys
        self._hits: dict[str, deque[float]] = {}

    def wait(self, key: str, now: float) -> float:
        """Return how long ``key`` must wait before its next attempt (0: go ahead)."""
        hits = self._hits.get(key)
        if hits is None:
            return 0.0
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) < self._limit:
            return 0.0
        return hits[0] + self._window - now

    def add(self, key: str, now: float) -> None:
        if key not in self._hits and len(self._hits) >= self._max_keys:
            self._evict(now)
        hits = self._hits.setdefault(key, deque(maxlen=self._limit))
        hits.append(now)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or h[-1] <= now - self._window]
        for key in stale or list(self._hits)[: max(1, self._max_keys // 10)]:
            del self._hits[key]
