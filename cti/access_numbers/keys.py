"""API keys of companies' backends: issued once, kept as a digest, scoped to pools, revocable,
and a per-key rate limit.

A key is ``cti_ak_`` and 32 random bytes (base64url); the store keeps its SHA-256 (a slow hash
protects guessable passwords, not 256-bit random keys) and its first characters, so an admin can
tell keys apart without the store ever holding one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from cti.access_numbers.values import ApiKeyInfo
from cti.errors import NotFound, RateLimited, ValidationFailed
from cti.store.access_tables import access_keys, access_pools

__all__ = [
    "KEY_PREFIX",
    "RateLimiter",
    "digest_of",
    "find_key",
    "issue_key",
    "keys",
    "revoke_key",
]

KEY_PREFIX = "cti_ak_"
_MAX_KEY = 128


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: Row[Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        pools=tuple(row.pools),
        per_minute=row.per_minute,
        active=row.active,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def issue_key(
    conn: Connection,
    name: str,
    pools: Sequence[str],
    *,
    per_minute: int,
    actor: str,
    now: datetime,
) -> tuple[ApiKeyInfo, str]:
    """Store a new key's digest; return it and the key (shown once, never stored)."""
    if not 1 <= len(name) <= 64:
        raise ValidationFailed("a key's name is 1 to 64 characters", details={"field": "name"})
    if not 1 <= per_minute <= 100_000:
        raise ValidationFailed("per_minute is 1 to 100000", details={"field": "per_minute"})
    wanted = sorted(set(pools))
    known = set(
        conn.execute(select(access_pools.c.name).where(access_pools.c.name.in_(wanted))).scalars()
    )
    if not wanted or set(wanted) - known:
        raise ValidationFailed(
            "a key is scoped to one or more existing pools",
            details={"field": "pools", "unknown": sorted(set(wanted) - known)[:10]},
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        insert(access_keys)
        .values(
            name=name,
            prefix=key[: len(KEY_PREFIX) + 6],
            digest=digest_of(key),
            pools=wanted,
            per_minute=per_minute,
            active=True,
            created_by=actor,
            created_at=now,
        )
        .returning(*access_keys.c)
    ).one()
    return _info(row), key


def keys(conn: Connection) -> list[ApiKeyInfo]:
    return [_info(r) for r in conn.execute(select(access_keys).order_by(access_keys.c.id))]


def find_key(conn: Connection, key: str, now: datetime) -> ApiKeyInfo | None:
    """The active key ``key`` is (stamping its last use), or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > _MAX_KEY:
        return None
    row = conn.execute(
        select(access_keys).where(access_keys.c.digest == digest_of(key), access_keys.c.active)
    ).first()
    if row is None:
        return None
    conn.execute(update(access_keys).where(access_keys.c.id == row.id).values(last_used_at=now))
    return _info(row)


def revoke_key(conn: Connection, key_id: int, now: datetime) -> ApiKeyInfo:
    row = conn.execute(
        update(access_keys)
        .where(access_keys.c.id == key_id)
        .values(active=False, revoked_at=now)
        .returning(*access_keys.c)
    ).first()
    if row is None:
        raise NotFound("no such key", details={"field": "id"})
    return _info(row)


class RateLimiter:
    """A token bucket per key in this process: ``per_minute`` requests, refilled evenly.

    Each daemon process keeps its own buckets, so N processes behind one address allow up to N
    times the rate: set the limit per process.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, key_id: int, per_minute: int) -> None:
        """Spend one request of ``key_id``; RateLimited (with retry_after_s) when none is left."""
        now = self._clock()
        tokens, at = self._buckets.get(key_id, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            wait = (1.0 - tokens) * 60.0 / per_minute
            raise RateLimited(
                "too many requests with this API key",
                details={"retry_after_s": round(wait, 3), "per_minute": per_minute},
            )
        self._buckets[key_id] = (tokens - 1.0, now)
