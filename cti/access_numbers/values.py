"""The values the access-number service hands out: pools, interactions, keys, status."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cti.errors import ValidationFailed
from cti.numbers import E164_PATTERN

__all__ = [
    "DEFAULT_HOLD_S",
    "AccessNumber",
    "ApiKeyInfo",
    "Interaction",
    "Policy",
    "Pool",
    "PoolSpec",
    "PoolStatus",
    "Refusal",
]

Policy = Literal["refuse", "take_oldest"]
State = Literal["live", "matched", "expired", "cancelled"]
DEFAULT_HOLD_S = 120
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DID = re.compile(r"[0-9+*#]{2,32}")


@dataclass(frozen=True, slots=True)
class AccessNumber:
    """One DID of a pool: ``did`` as the PBX reports it, ``e164`` what a customer dials."""

    did: str
    e164: str

    def __post_init__(self) -> None:
        if not _DID.fullmatch(self.did):
            raise ValidationFailed("a DID is 2 to 32 digits", details={"field": "numbers"})
        if not E164_PATTERN.fullmatch(self.e164):
            raise ValidationFailed(
                "a pool number needs its E.164 form", details={"field": "numbers"}
            )


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What an admin sets on a pool; validated on construction."""

    name: str
    numbers: tuple[AccessNumber, ...]
    purpose: str = ""
    group: str | None = None
    hold_seconds: int = DEFAULT_HOLD_S
    policy: Policy = "refuse"

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValidationFailed(
                "a pool name is 1 to 64 letters, digits, '_', '.' or '-'",
                details={"field": "name"},
            )
        if len(self.purpose) > 255:
            raise ValidationFailed(
                "a purpose is at most 255 characters", details={"field": "purpose"}
            )
        if not 10 <= self.hold_seconds <= 3600:
            raise ValidationFailed(
                "the reservation time is 10 to 3600 seconds", details={"field": "hold_seconds"}
            )
        if self.policy not in ("refuse", "take_oldest"):
            raise ValidationFailed(
                "the policy is refuse or take_oldest", details={"field": "policy"}
            )
        if not 1 <= len(self.numbers) <= 1000:
            raise ValidationFailed("a pool has 1 to 1000 numbers", details={"field": "numbers"})
        if len({n.did for n in self.numbers}) != len(self.numbers):
            raise ValidationFailed("a DID is listed twice", details={"field": "numbers"})


@dataclass(frozen=True, slots=True)
class Pool:
    id: int
    name: str
    purpose: str
    group: str | None
    hold_seconds: int
    policy: Policy
    numbers: tuple[AccessNumber, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "group": self.group,
            "hold_seconds": self.hold_seconds,
            "policy": self.policy,
            "numbers": [{"did": n.did, "e164": n.e164} for n in self.numbers],
        }


@dataclass(frozen=True, slots=True)
class Interaction:
    """One reservation: a customer's request, the number reserved for it, what became of it."""

    id: str
    pool: str
    did: str
    e164: str
    caller: str | None  # E.164; None: unknown (the DID was held exclusively)
    customer_phone: str | None
    customer_crm_id: str | None
    context: dict[str, Any]
    state: State
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    call_id: str | None = None
    key_id: int | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reservation refused because the pool is exhausted; the next number frees at
    ``retry_after_s`` at the latest."""

    pool: str
    retry_after_s: int


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as the admin console lists it (never the key itself)."""

    id: int
    name: str
    prefix: str
    pools: tuple[str, ...]
    per_minute: int
    active: bool
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "pools": list(self.pools),
            "per_minute": self.per_minute,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """A pool now and today (UTC day); ``hours`` is the last 24 hours, oldest first, each
    ``{"hour": iso, "reserved": n, "matched": n, "expired": n, "refused": n}``."""

    pool: str
    numbers: int
    free: int
    reserved: int
    matched_today: int
    expired_today: int
    refused_today: int
    hours: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "pool": self.pool,
            "numbers": self.numbers,
            "free": self.free,
            "reserved": self.reserved,
            "matched_today": self.matched_today,
            "expired_today": self.expired_today,
            "refused_today": self.refused_today,
            "hours": self.hours,
        }
