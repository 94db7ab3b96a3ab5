"""What an agent may click-to-dial, and how often: checked before anything reaches the PBX.

Pure: no I/O. :class:`DialRules` turns what the browser sent (a number as shown in a pop, a
search result or typed by hand) into the one form the dialplan accepts (E.164, or an internal
extension), or refuses it with :class:`~cti.errors.DialRefused` naming the rule. The browser is
not trusted: the text may hold anything (``100&PJSIP/1002``, ``1001@other-context``, newlines),
and only what parses as a plain number leaves this module. :class:`DialLimiter` bounds how many
dial requests one agent makes per window (a stuck key, a script, a looping page).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers

from cti.config import DialSettings
from cti.errors import DialRefused, RateLimited
from cti.numbers import (
    E164_PATTERN,
    EXTENSION_PATTERN,
    RegionSource,
    region_source,
    split_extension,
    to_e164,
)

__all__ = ["DialLimiter", "DialRules", "DialTarget", "display_number"]

_MAX_INPUT = 64


@dataclass(frozen=True, slots=True)
class DialTarget:
    """A number the dialplan may receive as ``${EXTEN}``: E.164, or an internal extension.

    ``extension`` (digits) is sent as DTMF once the far end answers (``;ext=12``, ``x12``).
    """

    number: str
    internal: bool
    extension: str | None = None

    def __post_init__(self) -> None:
        if not (self.internal and self.number.isdigit()) and not E164_PATTERN.fullmatch(
            self.number
        ):
            raise DialRefused("not a dialable number", details={"reason": "not_a_number"})
        if self.extension is not None and (
            self.internal or not EXTENSION_PATTERN.fullmatch(self.extension)
        ):
            raise DialRefused("not a dialable extension", details={"reason": "not_a_number"})


class DialRules:
    """The configured dial rules; :meth:`check` applies them to one request."""

    def __init__(self, settings: DialSettings, default_region: str | RegionSource) -> None:
        self._settings = settings
        self._regions = region_source(default_region)  # read per request: admins may change it
        self._extension = re.compile(settings.internal_extension)

    def check(self, raw: object) -> DialTarget:
        """Return the normalized target of ``raw``; raise DialRefused saying which rule refused."""
        if not isinstance(raw, str) or not raw.strip() or len(raw) > _MAX_INPUT:
            raise _refused("send the number as text of 1 to 64 characters", "not_a_number")
        text = raw.strip()
        if text.isascii() and text.isdigit() and self._extension.fullmatch(text):
            return DialTarget(text, internal=True)
        main, extension = split_extension(text)
        region = self._regions.default_region().upper()
        e164 = to_e164(main, region)
        if e164 is None:
            raise _refused(f"{text[:_MAX_INPUT]!r} is not a phone number", "not_a_number")
        self._check_prefixes(e164, phonenumbers.country_code_for_region(region))
        return DialTarget(e164, internal=False, extension=extension)

    def _check_prefixes(self, e164: str, home_code: int) -> None:
        settings = self._settings
        blocked = next((p for p in settings.blocked_prefixes if e164.startswith(p)), None)
        if blocked is not None:
            raise _refused(
                f"numbers starting {blocked} may not be dialled (premium rate or barred)",
                "blocked_prefix",
                number=e164,
                prefix=blocked,
            )
        if settings.allowed_prefixes and not any(
            e164.startswith(p) for p in settings.allowed_prefixes
        ):
            raise _refused(
                "this number is outside the prefixes agents may dial",
                "not_allowed",
                number=e164,
                allowed=list(settings.allowed_prefixes),
            )
        if not settings.allow_international and _country_code(e164) != home_code:
            raise _refused(
                "international numbers may not be dialled from the desktop",
                "international",
                number=e164,
            )


class DialLimiter:
    """At most ``max_per_window`` dial requests per agent in any ``window_s`` seconds."""

    def __init__(
        self,
        max_per_window: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_agents: int = 100_000,
    ) -> None:
        self._max, self._window, self._clock, self._max_agents = (
            max_per_window,
            window_s,
            clock,
            max_agents,
        )
        self._hits: dict[str, deque[float]] = {}

    def take(self, agent: str) -> None:
        """Count one request of ``agent``; raise RateLimited (with retry_after_s) past the limit."""
        now = self._clock()
        hits = self._hits.get(agent)
        if hits is None:
            if len(self._hits) >= self._max_agents:
                self._forget_idle(now)
            hits = self._hits[agent] = deque()
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._max:
            wait = hits[0] + self._window - now
            raise RateLimited(
                f"at most {self._max} dial requests per {self._window:g} s; wait a moment",
                details={"retry_after_s": round(wait, 1), "limit": self._max},
            )
        hits.append(now)

    def _forget_idle(self, now: float) -> None:
        for agent in [a for a, h in self._hits.items() if not h or h[-1] <= now - self._window]:
            del self._hits[agent]


def display_number(number: str) -> str:
    """Return an E.164 ``number`` in international format for people; anything else as given."""
    if not E164_PATTERN.fullmatch(number):
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _country_code(e164: str) -> int:
    return int(phonenumbers.parse(e164, None).country_code or 0)


def _refused(message: str, reason: str, **details: object) -> DialRefused:
    return DialRefused(message, details={"reason": reason, **details})
