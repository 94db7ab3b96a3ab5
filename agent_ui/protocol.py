"""The JSON protocol between the daemon and an agent's browser: pure, no I/O.

Every frame is one JSON object in a websocket text frame (docs/protocol.md). Outgoing frames
are ``{"type", "seq", "data"}``: :mod:`agent_ui.messages` builds an :class:`Outgoing`, the hub
gives it the agent's ``seq`` and :func:`encode` turns it into text once for all the agent's
connections. Incoming frames are ``{"type", "data"?, "ref"?}``: :func:`decode` returns one frozen
value or raises a :class:`~cti.errors.BrowserProtocolError` whose ``close_code`` says whether the
connection is closed (and with which code) or only answered with an ``error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cti.errors import (
    BrowserProtocolError,
    InvalidField,
    InvalidPayload,
    MessageTooBig,
    UnknownMessageType,
    UnsupportedData,
    ValidationFailed,
)

__all__ = [
    "MAX_CALL_ID_CHARS",
    "MAX_DISPOSITION_CHARS",
    "MAX_FRAME_BYTES",
    "MAX_NOTES_CHARS",
    "MAX_REF_CHARS",
    "MAX_SEQ",
    "PROTOCOL_VERSION",
    "CloseCode",
    "Disposition",
    "Incoming",
    "Notes",
    "Outgoing",
    "Ping",
    "Resume",
    "decode",
    "encode",
    "encode_incoming",
]

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 256 * 1024  # 20k chars of notes, JSON-escaped at worst, fit with room
MAX_NOTES_CHARS = 20_000
MAX_CALL_ID_CHARS = 128
MAX_DISPOSITION_CHARS = 64
MAX_REF_CHARS = 64
MAX_SEQ = 2**53 - 1  # the largest integer a browser's JSON.parse keeps exact

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, LF and CR are allowed in text
_ENVELOPE_KEYS = frozenset({"type", "data", "ref"})


class CloseCode(IntEnum):
    """Websocket close codes the daemon uses (RFC 6455 section 7.4.1; 1013 from the IANA list)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the daemon shuts down
    UNSUPPORTED_DATA = 1003  # a binary frame
    INVALID_PAYLOAD = 1007  # not a protocol envelope
    POLICY_VIOLATION = 1008  # no resume first, too many messages, session ended
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # the client did not keep up: reconnect and resume
    TOO_MANY_CONNECTIONS = 4008  # this user has max_sockets_per_user open: do not reconnect


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for a browser, before the hub numbers it; ``data`` holds JSON values only."""

    type: str
    data: Mapping[str, object]


def encode(message: Outgoing, seq: int) -> str:
    """Return the text frame for ``message`` numbered ``seq``.

    ASCII-only output: a lone surrogate in a caller name cannot break the UTF-8 encoder of the
    socket, and a frame's length in characters is its length in bytes.
    """
    try:
        return json.dumps(
            {"type": message.type, "seq": seq, "data": message.data},
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"{message.type} message holds a value JSON cannot carry: {exc}",
            details={"type": message.type},
        ) from exc


# --------------------------------------------------------------------------------- incoming
@dataclass(frozen=True, slots=True)
class Resume:
    """The first message of every connection: the last ``seq`` this client applied.

    ``last_seq`` None (a fresh page) or an ``epoch`` other than the daemon's asks for a snapshot.
    """

    last_seq: int | None
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class Notes:
    """The whole notes text of a call so far (each message replaces the previous one)."""

    call_id: str
    text: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Disposition:
    call_id: str
    value: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    ref: str | None = None


Incoming = Resume | Notes | Disposition | Ping


def decode(frame: str | bytes) -> Incoming:
    """Return the message in one websocket frame, or raise a BrowserProtocolError."""
    if not isinstance(frame, str):
        raise UnsupportedData("binary frames are not part of the protocol; send JSON text")
    if len(frame) > MAX_FRAME_BYTES or len(frame.encode("utf-8", "surrogatepass")) > (
        MAX_FRAME_BYTES
    ):
        raise MessageTooBig(
            f"a frame may hold at most {MAX_FRAME_BYTES} bytes",
            details={"limit": MAX_FRAME_BYTES},
        )
    envelope = _parse_object(frame)
    ref = _envelope_ref(envelope)
    kind = envelope.get("type")
    if not isinstance(kind, str):
        raise InvalidPayload("a message needs a string 'type'", ref=ref)
    data = envelope.get("data", {})
    if not isinstance(data, dict):
        raise InvalidPayload("'data' must be an object", ref=ref)
    parse = _PARSERS.get(kind)
    if parse is None:
        raise UnknownMessageType(
            f"unknown message type {kind[:40]!r}",
            ref=ref,
            details={"type": kind[:40], "known": sorted(_PARSERS)},
        )
    return parse(_Fields(data, ref))


def encode_incoming(message: Incoming) -> str:
    """Return the frame a client sends for ``message`` (for clients and tests)."""
    envelope: dict[str, object]
    match message:
        case Resume(last_seq=last_seq, epoch=epoch):
            data: dict[str, object] = {"last_seq": last_seq}
            if epoch is not None:
                data["epoch"] = epoch
            envelope = {"type": "resume", "data": data}
        case Notes(call_id=call_id, text=text, ref=ref):
            envelope = {"type": "notes", "data": {"call_id": call_id, "text": text}, "ref": ref}
        case Disposition(call_id=call_id, value=value, ref=ref):
            envelope = {"type": "disposition", "data": {"call_id": call_id, "value": value}}
            envelope["ref"] = ref
        case Ping(ref=ref):
            envelope = {"type": "ping", "ref": ref}
    if envelope.get("ref", 0) is None:
        del envelope["ref"]
    return json.dumps(envelope, separators=(",", ":"))


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in an object")
    return result


def _parse_object(frame: str) -> dict[str, Any]:
    try:
        value = json.loads(frame, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidPayload(f"not a JSON message: {str(exc)[:80]}") from exc
    if not isinstance(value, dict):
        raise InvalidPayload("a message is a JSON object")
    unknown = set(value) - _ENVELOPE_KEYS
    if unknown:
        raise InvalidPayload(
            "unknown top-level keys", details={"keys": sorted(k[:40] for k in unknown)[:10]}
        )
    return value


def _envelope_ref(envelope: dict[str, Any]) -> str | None:
    ref = envelope.get("ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or not 0 < len(ref) <= MAX_REF_CHARS or _CONTROL.search(ref):
        raise InvalidPayload(f"'ref' must be a string of 1 to {MAX_REF_CHARS} characters")
    return ref


class _Fields:
    """Typed reads of a message's ``data``; each failure names the field (InvalidField)."""

    def __init__(self, data: dict[str, Any], ref: str | None) -> None:
        self.data = data
        self.ref = ref

    def fail(self, field: str, problem: str) -> BrowserProtocolError:
        return InvalidField(
            f"{field}: {problem}", ref=self.ref, details={"field": field, "problem": problem}
        )

    def only(self, *names: str) -> None:
        extra = sorted(set(self.data) - set(names))
        if extra:
            raise self.fail(extra[0][:40], "unknown field")

    def text(self, name: str, limit: int, *, allow_empty: bool = False) -> str:
        value = self.data.get(name)
        if not isinstance(value, str):
            raise self.fail(name, "must be a string")
        if len(value) > limit:
            raise self.fail(name, f"longer than {limit} characters")
        if not value and not allow_empty:
            raise self.fail(name, "must not be empty")
        if _CONTROL.search(value):
            raise self.fail(name, "holds control characters")
        return value

    def call_id(self) -> str:
        value = self.text("call_id", MAX_CALL_ID_CHARS)
        if not _VISIBLE_ASCII.fullmatch(value):
            raise self.fail("call_id", "must be visible ASCII")
        return value

    def seq(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if type(value) is not int or not 0 <= value <= MAX_SEQ:  # bool is an int: excluded
            raise self.fail(name, f"must be null or an integer from 0 to {MAX_SEQ}")
        return value

    def optional_text(self, name: str, limit: int) -> str | None:
        return None if self.data.get(name) is None else self.text(name, limit)


def _resume(f: _Fields) -> Resume:
    f.only("last_seq", "epoch")
    if "last_seq" not in f.data:
        raise f.fail("last_seq", "is required (null for a fresh page)")
    return Resume(last_seq=f.seq("last_seq"), epoch=f.optional_text("epoch", MAX_REF_CHARS))


def _notes(f: _Fields) -> Notes:
    f.only("call_id", "text")
    return Notes(f.call_id(), f.text("text", MAX_NOTES_CHARS, allow_empty=True), f.ref)


def _disposition(f: _Fields) -> Disposition:
    f.only("call_id", "value")
    value = f.text("value", MAX_DISPOSITION_CHARS)
    if value.strip() != value:
        raise f.fail("value", "has leading or trailing spaces")
    return Disposition(f.call_id(), value, f.ref)


def _ping(f: _Fields) -> Ping:
    f.only()
    return Ping(f.ref)


_PARSERS: dict[str, Callable[[_Fields], Incoming]] = {
    "resume": _resume,
    "notes": _notes,
    "disposition": _disposition,
    "ping": _ping,
}
