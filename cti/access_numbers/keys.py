"""API keys of companies' backends: issued once, kept as a digest, scoped to pools, revocable,
and a per-key rate limit shared by every daemon process on the store.

A key is ``cti_ak_`` and 32 random bytes (base64url); the store keeps its SHA-256 (a slow hash
protects guessable passwords, not 256-bit random keys) and its first characters, so an admin can
tell keys apart without the store ever holding one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cti.access_numbers.values import ApiKeyInfo
from cti.errors import NotFound, RateLimited, ValidationFailed
from cti.store.access_tables import access_key_windows, access_keys, access_pools

__all__ = [
    "KEY_PREFIX",
    "digest_of",
    "find_key",
    "issue_key",
    "keys",
    "prune_windows",
    "revoke_key",
    "spend",
]

KEY_PREFIX = "cti_ak_"
_W = access_key_windows
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
    """The active key ``key`` is (stamping its last use, in the same statement), or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > _MAX_KEY:
        return None
    row = conn.execute(
        update(access_keys)
        .where(access_keys.c.digest == digest_of(key), access_keys.c.active)
        .values(last_used_at=now)
        .returning(*access_keys.c)
    ).first()
    return None if row is None else _info(row)


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


def spend(conn: Connection, key_id: int, per_minute: int, now: datetime) -> None:
    """Count one request of ``key_id`` against its rate; RateLimited (with retry_after_s) when
    it is past ``per_minute`` over the last minute.

    The counts are rows of the store (one per key and minute), so every daemon process sharing
    the store shares the limit. The window slides: the previous minute's count weighs by the
    part of it still inside the last 60 s. The count is raised first (one atomic upsert, so
    processes racing each see their own total) and lowered again when refused, so refused
    requests do not push the wait further.
    """
    window = now.replace(second=0, microsecond=0)
    elapsed = (now - window).total_seconds()
    current = _increment(conn, key_id, window, 1)
    previous = (
        conn.execute(
            select(_W.c.count).where(
                _W.c.key_id == key_id, _W.c.window_start == window - timedelta(minutes=1)
            )
        ).scalar()
        or 0
    )
    if previous * (1 - elapsed / 60) + current <= per_minute:
        return
    _increment(conn, key_id, window, -1)
    raise RateLimited(
        "too many requests with this API key",
        details={
            "retry_after_s": round(_wait(previous, current - 1, per_minute, elapsed), 3),
            "per_minute": per_minute,
        },
    )


def _increment(conn: Connection, key_id: int, window: datetime, by: int) -> int:
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make(_W).values(key_id=key_id, window_start=window, count=by)
    statement = statement.on_conflict_do_update(
        index_elements=[_W.c.key_id, _W.c.window_start], set_={"count": _W.c.count + by}
    )
    return int(conn.execute(statement.returning(_W.c.count)).scalar_one())


def _wait(previous: int, granted: int, per_minute: int, elapsed: float) -> float:
    """Seconds until one more request fits: the previous minute's weight shrinks as the window
    slides; past a full current minute, the next minute's start and the same again."""
    room = per_minute - 1 - granted
    if room >= 0 and previous > 0:
        return max(0.001, 60 * (1 - room / previous) - elapsed)
    at = 60 * (1 - (per_minute - 1) / granted) if granted > per_minute - 1 else 0.0
    return (60 - elapsed) + max(0.0, at)


def prune_windows(conn: Connection, now: datetime) -> int:
    """Drop the counts no window reaches any more; return how many."""
    oldest = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    return int(conn.execute(delete(_W).where(_W.c.window_start < oldest)).rowcount)
