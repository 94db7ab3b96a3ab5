"""The values the store hands out and takes in: frozen dataclasses that validate themselves.

Nothing here touches a database; :mod:`cti.store.store` turns rows into these and back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from cti.core.records import CallRecord
from cti.errors import ValidationFailed
from cti.principal import Role

__all__ = [
    "AgentEndpoint",
    "AgentInfo",
    "CallNote",
    "Delivery",
    "EventEntry",
    "GroupInfo",
    "GroupSpec",
    "OutboxCounts",
    "OutboxEntry",
    "PopTrigger",
    "Role",
    "WrapupScope",
    "check_username",
]

USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{1,64}")
_GROUP_NAME_MAX = 64
_DISPOSITION_MAX = 255


class PopTrigger(StrEnum):
    """When an agent's screen pops: as the phone rings, or once the agent answers."""

    RINGING = "ringing"
    ANSWERED = "answered"


class WrapupScope(StrEnum):
    """Which answered calls put an agent in wrap-up: queue calls (the default), all, none.

    Queue calls only by default: wrap-up pauses the agent in every queue, so after direct
    calls (a DID ringing the agent's phone) it would keep queue callers from a free agent.
    """

    QUEUE = "queue"
    ALL = "all"
    NONE = "none"

    def applies(self, queue: str | None) -> bool:
        """Whether an answered call that came through ``queue`` (None: direct) has wrap-up."""
        return self is WrapupScope.ALL or (self is WrapupScope.QUEUE and bool(queue))

    @classmethod
    def parse(cls, value: object) -> WrapupScope:
        """``value`` as a scope; ValidationFailed naming the field otherwise."""
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise ValidationFailed(
            "wrap-up applies to 'queue' calls, 'all' calls or 'none'",
            details={"field": "wrapup_applies_to"},
        )


def check_username(username: str) -> str:
    """Return ``username`` if it is 1-64 of ``[a-z0-9._-]``; raise ValidationFailed otherwise."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationFailed(
            "a username is 1 to 64 characters among a-z 0-9 . _ -",
            details={"username": username[:80]},
        )
    return username


@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    """A phone an agent answers on, as the PBX names it (``PJSIP/1001``), on one server or any."""

    endpoint: str
    server: str | None = None

    def __post_init__(self) -> None:
        if not self.endpoint or len(self.endpoint) > 128 or "/" not in self.endpoint:
            raise ValidationFailed(
                "an endpoint looks like TECH/resource, e.g. PJSIP/1001",
                details={"endpoint": self.endpoint[:140]},
            )
        if self.server is not None and not 1 <= len(self.server) <= 64:
            raise ValidationFailed("a server name is 1 to 64 characters")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """An agent as the rest of the daemon sees it (never with the password hash)."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    active: bool
    created_at: datetime
    endpoints: tuple[AgentEndpoint, ...] = ()

    @property
    def name(self) -> str:
        """The name to show people: the display name, else the username."""
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """What an admin or supervisor sets on an agent group; members are usernames."""

    name: str
    trigger: PopTrigger = PopTrigger.RINGING
    dispositions: tuple[str, ...] = ()
    wrapup_seconds: int = 0
    template: str | None = None  # None: the product's default template
    wrapup_applies_to: WrapupScope = WrapupScope.QUEUE
    members: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > _GROUP_NAME_MAX:
            raise ValidationFailed(f"a group name is 1 to {_GROUP_NAME_MAX} characters")
        object.__setattr__(self, "trigger", _trigger(self.trigger))
        object.__setattr__(self, "wrapup_applies_to", WrapupScope.parse(self.wrapup_applies_to))
        if not 0 <= self.wrapup_seconds <= 86400:
            raise ValidationFailed("wrap-up lasts 0 to 86400 seconds")
        bad = [d for d in self.dispositions if not d.strip() or len(d) > _DISPOSITION_MAX]
        if bad or len(set(self.dispositions)) != len(self.dispositions):
            raise ValidationFailed("dispositions are distinct, non-empty, at most 255 characters")
        for username in (*self.members, *self.supervisors):
            check_username(username)
        for key, values, limit in (("did", self.dids, 64), ("queue", self.queues, 128)):
            if any(not v or len(v) > limit for v in values) or len(set(values)) != len(values):
                raise ValidationFailed(f"each {key} is distinct, 1 to {limit} characters")


def _trigger(value: object) -> PopTrigger:
    try:
        return PopTrigger(str(value))
    except ValueError as exc:
        raise ValidationFailed(
            "a pop trigger is 'ringing' or 'answered'", details={"trigger": str(value)[:20]}
        ) from exc


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """An agent group as stored (its spec plus its id)."""

    id: int
    spec: GroupSpec

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class CallNote:
    """What one agent typed about one call, and the disposition they picked."""

    call_id: str
    username: str
    notes: str
    disposition: str | None
    updated_at: datetime
    disposition_at: datetime | None = None
    author: str = ""  # the agent's display name when known, else empty


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row claimed by the writer: deliver ``record`` to ``connector``."""

    id: int
    call_id: str
    connector: str
    record: CallRecord
    attempts: int  # attempts recorded so far (an interrupted one leaves no trace)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row as admins see it (``cti outbox list``)."""

    id: int
    call_id: str
    connector: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    crm_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready values (times as ISO 8601)."""
        times = ("created_at", "next_attempt_at", "last_attempt_at", "delivered_at")
        values: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            values[field.name] = value.isoformat() if field.name in times and value else value
        return values


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Rows not yet delivered, and those among them that failed ``stuck_after`` times or more."""

    depth: int
    stuck: int


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One line of the append-only event history."""

    id: int
    at: datetime
    actor: str | None
    kind: str
    details: dict[str, Any]
