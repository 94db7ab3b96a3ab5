"""A live call as plain JSON data, so that it survives a restart of the daemon.

The tracker keeps calls in memory. The daemon saves each live call's snapshot (what
:func:`encode` returns) as it changes and loads them back at start (:func:`decode`), before the
first resync with the PBX: the resync then closes the calls whose channels went away while the
daemon was down, and keeps the others, so every call still gets exactly one record.

A snapshot holds the call's working state and, for each of its live channels, the endpoint and
channel name that call control and the resync need. It is versioned: a snapshot of an unknown
version is refused, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cti.core.calls import TrackedCall
from cti.core.events import Party
from cti.core.records import Direction, Outcome
from cti.core.state import LegState
from cti.core.updates import CallState

__all__ = ["VERSION", "LiveChannel", "SnapshotError", "decode", "encode"]

VERSION = 1


class SnapshotError(ValueError):
    """The snapshot cannot be read back (unknown version, missing or mistyped field)."""


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """One channel the call holds: its uniqueid, endpoint (``PJSIP/1001``) and name."""

    uniqueid: str
    endpoint: str
    name: str


@dataclass(slots=True)
class Restored:
    """What :func:`decode` gives back: the call's fields and its live channels."""

    fields: dict[str, Any]
    # endpoint, uniqueid, state, rang_at, channel name, consultation
    legs: list[tuple[str, str, LegState, float, str, bool]]
    channels: list[LiveChannel] = field(default_factory=list)


_SCALARS = (
    "call_id",
    "server",
    "origin",
    "started_at",
    "called_number",
    "did",
    "trunk",
    "queue",
    "in_queue",
    "queued_at",
    "answered_at",
    "agent",
    "owner_leg",
    "hold_since",
    "hold_seconds",
    "abandoned",
    "transfer_from",
    "transferred_from",
    "originate_id",
)
_LISTS = ("attached", "rung", "flags")


def encode(call: TrackedCall, channels: list[LiveChannel]) -> dict[str, Any]:
    """Return ``call`` as JSON-ready data."""
    data: dict[str, Any] = {name: getattr(call, name) for name in _SCALARS}
    data.update({name: sorted(getattr(call, name)) for name in ("attached",)})
    data.update({name: list(getattr(call, name)) for name in ("rung", "flags")})
    data["version"] = VERSION
    data["direction"] = str(call.direction)
    data["state"] = str(call.state)
    data["hint"] = str(call.hint) if call.hint is not None else None
    data["caller"] = [call.caller.number, call.caller.name]
    data["legs"] = [
        [leg.endpoint, leg.uniqueid, str(leg.state), leg.rang_at, leg.channel, leg.consult]
        for leg in call.legs.values()
    ]
    data["channels"] = [[c.uniqueid, c.endpoint, c.name] for c in channels]
    return data


def decode(data: dict[str, Any]) -> Restored:
    """Read a snapshot back; raise :class:`SnapshotError` when it is not one this code wrote."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise SnapshotError(f"not a version {VERSION} call snapshot")
    try:
        fields = {name: data[name] for name in _SCALARS}
        fields.update({name: list(data[name]) for name in _LISTS})
        fields["attached"] = {str(uniqueid) for uniqueid in data["attached"]}
        fields["direction"] = Direction(data["direction"])
        fields["state"] = CallState(data["state"])
        fields["hint"] = Outcome(data["hint"]) if data["hint"] is not None else None
        number, name = data["caller"]
        fields["caller"] = Party(number=str(number), name=str(name))
        legs = [
            (str(e), str(u), LegState(s), float(at), str(n), bool(c))
            for e, u, s, at, n, c in data["legs"]
        ]
        channels = [LiveChannel(str(u), str(e), str(n)) for u, e, n in data["channels"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"a call snapshot is malformed ({exc!r})") from exc
    if not isinstance(fields["call_id"], str) or not isinstance(fields["server"], str):
        raise SnapshotError("a call snapshot needs a call id and a server")
    return Restored(fields, legs, channels)
