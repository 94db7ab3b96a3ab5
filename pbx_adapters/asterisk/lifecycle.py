"""What an AMI connection is configured with, which states it goes through, and what it counts.

Pure values and rules, kept apart from the asyncio code of :mod:`.connection`: the settings the
composition root builds, the state table (every legal transition in one place), the reconnect
backoff and the counters.
"""

from __future__ import annotations

import enum
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from cti.errors import ConfigError
from pbx_adapters.asterisk.framer import FramerStats

__all__ = [
    "AmiConnectionStats",
    "AmiSettings",
    "State",
    "backoff_delay",
    "check_transition",
]


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """How to reach and watch one Asterisk server; built by the composition root from config."""

    host: str
    port: int = 5038
    username: str = ""
    secret: str = field(default="", repr=False)
    events: str = "on"
    tls: ssl.SSLContext | None = None
    connect_timeout_s: float = 5.0
    action_timeout_s: float = 10.0
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    stable_after_s: float = 30.0

    def __post_init__(self) -> None:
        positive = ("connect_timeout_s", "action_timeout_s", "ping_interval_s", "ping_timeout_s")
        for name in (*positive, "backoff_base_s", "stable_after_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"AMI setting {name} must be positive", details={name: 0})
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError(
                "AMI setting backoff_cap_s must not be below backoff_base_s",
                details={
                    "backoff_base_s": self.backoff_base_s,
                    "backoff_cap_s": self.backoff_cap_s,
                },
            )
        if not 0 < self.port < 65536:
            raise ConfigError("AMI port must be 1-65535", details={"port": self.port})


def backoff_delay(
    attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Return the wait before reconnect ``attempt`` (0 first): jittered, within [base, cap].

    The ceiling doubles per attempt up to ``cap_s``; the delay is drawn from its upper half (and
    never below ``base_s``), so daemons restarted together do not reconnect in step.
    """
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt, 64))
    floor = max(base_s, ceiling / 2)
    return floor + (ceiling - floor) * rand()


class State(enum.Enum):
    """Where an :class:`AmiConnection` is in its life."""

    IDLE = "idle"
    CONNECTING = "connecting"
    LOGGING_IN = "logging_in"
    READY = "ready"
    BACKING_OFF = "backing_off"
    CLOSED = "closed"


# Every legal transition; anything else is a bug in the connection and raises.
_TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.CONNECTING, State.CLOSED}),
    State.CONNECTING: frozenset({State.LOGGING_IN, State.BACKING_OFF, State.CLOSED}),
    State.LOGGING_IN: frozenset({State.READY, State.BACKING_OFF, State.CLOSED}),
    State.READY: frozenset({State.BACKING_OFF, State.CLOSED}),
    State.BACKING_OFF: frozenset({State.CONNECTING, State.CLOSED}),
    State.CLOSED: frozenset(),
}


@dataclass(slots=True)
class AmiConnectionStats:
    """Counters of one connection across all its reconnects."""

    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    events: int = 0
    stray_responses: int = 0
    sink_errors: int = 0
    actions_sent: int = 0
    pings_missed: int = 0
    last_backoff_s: float = 0.0
    last_error: str | None = None
    framer: FramerStats = field(default_factory=FramerStats)

    @property
    def frames(self) -> int:
        """Return how many frames were read (events and responses)."""
        return self.framer.frames

    @property
    def frames_rejected(self) -> int:
        """Return how many messages the framer dropped."""
        return self.framer.frames_rejected


def check_transition(current: State, new: State) -> None:
    """Raise ``RuntimeError`` unless ``current -> new`` is in the state table."""
    if new not in _TRANSITIONS[current]:
        raise RuntimeError(f"AMI connection cannot go from {current} to {new}")
