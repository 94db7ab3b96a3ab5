"""CallRecord to JSON and back, for the outbox payload (and anything else that stores records).

Times are ISO 8601 in UTC, enums their values, tuples lists; ``v`` is the format's version so a
later release can still read rows written by this one. Decoding refuses malformed input with
ValidationFailed rather than building a half-valid record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cti.core.records import CallRecord, CrmMatch, Direction, Outcome
from cti.errors import ValidationFailed

__all__ = ["FORMAT_VERSION", "record_from_json", "record_to_json"]

FORMAT_VERSION = 1


def record_to_json(record: CallRecord) -> dict[str, Any]:
    """Return ``record`` as JSON-ready values (dicts, lists, strings, numbers, None)."""
    return {
        "v": FORMAT_VERSION,
        "call_id": record.call_id,
        "server": record.server,
        "direction": record.direction.value,
        "outcome": record.outcome.value,
        "started_at": _time_out(record.started_at),
        "ended_at": _time_out(record.ended_at),
        "answered_at": _time_out(record.answered_at) if record.answered_at else None,
        "caller_number": record.caller_number,
        "called_number": record.called_number,
        "caller_name": record.caller_name,
        "did": record.did,
        "trunk": record.trunk,
        "queue": record.queue,
        "wait_seconds": record.wait_seconds,
        "talk_seconds": record.talk_seconds,
        "hold_seconds": record.hold_seconds,
        "agents_rung": list(record.agents_rung),
        "answered_by": record.answered_by,
        "notes": record.notes,
        "disposition": record.disposition,
        "matches": [[m.system, m.object_type, m.record_id] for m in record.matches],
        "flags": list(record.flags),
        "interaction": [[name, text] for name, text in record.interaction],
        "recordings": list(record.recordings),
    }


def record_from_json(data: Mapping[str, Any]) -> CallRecord:
    """Return the record ``data`` (from :func:`record_to_json`) describes."""
    try:
        return _decode(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(
            "not a call record this version can read",
            details={"reason": f"{type(exc).__name__}: {exc}"[:200]},
        ) from exc


def _decode(data: Mapping[str, Any]) -> CallRecord:
    if data.get("v") != FORMAT_VERSION:
        raise ValueError(f"format version {data.get('v')!r}")
    answered = data["answered_at"]
    wait = data["wait_seconds"]
    return CallRecord(
        call_id=_text(data, "call_id"),
        server=_text(data, "server"),
        caller_number=_text(data, "caller_number"),
        called_number=_text(data, "called_number"),
        caller_name=_text(data, "caller_name"),
        notes=_text(data, "notes"),
        did=_optional_text(data, "did"),
        trunk=_optional_text(data, "trunk"),
        queue=_optional_text(data, "queue"),
        answered_by=_optional_text(data, "answered_by"),
        disposition=_optional_text(data, "disposition"),
        direction=Direction(data["direction"]),
        outcome=Outcome(data["outcome"]),
        started_at=_time_in(data["started_at"]),
        ended_at=_time_in(data["ended_at"]),
        answered_at=None if answered is None else _time_in(answered),
        wait_seconds=None if wait is None else _number(wait),
        talk_seconds=_number(data["talk_seconds"]),
        hold_seconds=_number(data["hold_seconds"]),
        agents_rung=_strings(data["agents_rung"]),
        matches=tuple(_match(item) for item in data["matches"]),
        flags=_strings(data["flags"]),
        interaction=tuple(_pair(item) for item in data.get("interaction", ())),  # absent: older
        recordings=_strings(data.get("recordings", [])),  # absent: written before recordings
    )


def _pair(item: object) -> tuple[str, str]:
    if not isinstance(item, list) or len(item) != 2 or not all(isinstance(v, str) for v in item):
        raise TypeError("an interaction item is [name, text]")
    return item[0], item[1]


def _time_out(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValidationFailed("call times must be timezone-aware")
    return value.astimezone(UTC).isoformat()


def _time_in(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("a time is an ISO 8601 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() != timedelta(0):
        raise ValueError(f"time {value!r} is not UTC")
    return parsed.astimezone(UTC)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    return None if data[name] is None else _text(data, name)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("not a list of strings")
    return tuple(value)


def _match(value: object) -> CrmMatch:
    system, object_type, record_id = _strings(value)
    return CrmMatch(system, object_type, record_id)
