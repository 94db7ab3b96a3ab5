"""Typed call-control commands over an AMI connection; every argument is checked here.

Checks happen before anything is written: no CR, LF or NUL in any header value (AMI header
injection, see :mod:`pbx_adapters.asterisk.action`), required values present, numbers in range,
and Originate variables that Asterisk cannot split into extra variables (``manager.c`` splits
each ``Variable`` header on commas). Nothing is retried here: an ``Originate`` whose outcome is
unknown (:class:`~cti.errors.AmiConnectionLost`) is reported, never sent twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cti.errors import ValidationFailed
from pbx_adapters.asterisk.action import check_header
from pbx_adapters.asterisk.frame import AmiFrame

__all__ = ["ActionSender", "AsteriskCommands", "OriginateResult"]

# Variable names: plain (optionally inherited with _ or __) or a dialplan function argument
# such as CALLERID(name).
_VARIABLE_NAME = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]{0,63}(\([A-Za-z0-9_-]{0,32}\))?")
# manager.c separates Variable values on ',' and strips '"' and '\'.
_VARIABLE_VALUE_FORBIDDEN = re.compile(r'[,"\\]')
_MAX_CAUSE = 127  # Q.850 cause codes (AST_CAUSE_*)
_DTMF = re.compile(r"[0-9*#A-D]")


class ActionSender(Protocol):
    """What the commands need from a connection (an ``AmiConnection`` or a test fake)."""

    async def send_action(
        self,
        action: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        timeout_s: float | None = None,
    ) -> AmiFrame | list[AmiFrame]: ...


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """Asterisk queued the call; its ``OriginateResponse`` event will carry ``action_id``."""

    action_id: str
    message: str


class AsteriskCommands:
    """Call-control actions on one Asterisk server."""

    def __init__(self, connection: ActionSender) -> None:
        self._connection = connection

    async def originate(
        self,
        endpoint_channel: str,
        context: str,
        exten: str,
        *,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        action_id: str | None = None,
        priority: int = 1,
    ) -> OriginateResult:
        """Ring ``endpoint_channel`` and, once answered, send it to ``context,exten,priority``.

        Async Originate: this returns once Asterisk queued the call; the ``OriginateResponse``
        event with the returned action id tells how it went. Never retried.
        """
        if not 0 < timeout_s <= 3600:
            raise ValidationFailed(
                "originate timeout must be within (0, 3600] seconds",
                details={"timeout_s": timeout_s},
            )
        action_id = action_id if action_id is not None else f"originate-{uuid.uuid4().hex}"
        headers = [
            ("Action", "Originate"),
            ("ActionID", _required("action_id", action_id)),
            ("Channel", _required("endpoint_channel", endpoint_channel)),
            ("Context", _required("context", context)),
            ("Exten", _required("exten", exten)),
            ("Priority", str(_priority(priority))),
            ("Timeout", str(round(timeout_s * 1000))),
            ("Async", "true"),
        ]
        if caller_id:
            headers.append(("CallerID", _checked("caller_id", caller_id)))
        headers.extend(
            ("Variable", _variable(name, value)) for name, value in (variables or {}).items()
        )
        response = _first(await self._connection.send_action(headers))
        return OriginateResult(action_id=action_id, message=response.get("Message"))

    async def hangup(self, channel: str, cause: int = 16) -> AmiFrame:
        """Hang up ``channel`` with a Q.850 ``cause`` (16: normal clearing)."""
        if not 0 <= cause <= _MAX_CAUSE:
            raise ValidationFailed("hangup cause must be 0-127", details={"cause": cause})
        return await self._single(
            ("Action", "Hangup"),
            ("Channel", _required("channel", channel)),
            ("Cause", str(cause)),
        )

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        extra_channel: str | None = None,
    ) -> AmiFrame:
        """Send ``channel`` (and ``extra_channel``, e.g. its peer) to ``context,exten,priority``."""
        target = [
            ("Context", _required("context", context)),
            ("Exten", _required("exten", exten)),
            ("Priority", str(_priority(priority))),
        ]
        headers = [("Action", "Redirect"), ("Channel", _required("channel", channel)), *target]
        if extra_channel is not None:
            headers.append(("ExtraChannel", _required("extra_channel", extra_channel)))
            headers.extend((f"Extra{key}", value) for key, value in target)
        return await self._single(*headers)

    async def blind_transfer(self, channel: str, context: str, exten: str) -> AmiFrame:
        """Blind-transfer the party bridged with ``channel`` to ``exten@context``."""
        return await self._single(
            ("Action", "BlindTransfer"),
            ("Channel", _required("channel", channel)),
            ("Context", _required("context", context)),
            ("Exten", _required("exten", exten)),
        )

    async def attended_transfer(
        self, channel: str, exten: str, context: str | None = None
    ) -> AmiFrame:
        """Start an attended transfer (``Atxfer``) from ``channel`` to ``exten``."""
        headers = [
            ("Action", "Atxfer"),
            ("Channel", _required("channel", channel)),
            ("Exten", _required("exten", exten)),
        ]
        if context is not None:
            headers.append(("Context", _required("context", context)))
        return await self._single(*headers)

    async def queue_pause(
        self, interface: str, paused: bool, queue: str | None = None, reason: str = ""
    ) -> AmiFrame:
        """Pause or unpause a queue member, in one queue or (``queue=None``) in all of them."""
        headers = [
            ("Action", "QueuePause"),
            ("Interface", _required("interface", interface)),
            ("Paused", "true" if paused else "false"),
        ]
        if queue is not None:
            headers.append(("Queue", _required("queue", queue)))
        if reason:
            headers.append(("Reason", _checked("reason", reason)))
        return await self._single(*headers)

    async def set_variable(self, channel: str, name: str, value: str) -> AmiFrame:
        """Set dialplan variable ``name`` on ``channel`` (AMI ``Setvar``, write class ``call``)."""
        _variable(name, value)  # the same checks as Originate's variables
        return await self._single(
            ("Action", "Setvar"),
            ("Channel", _required("channel", channel)),
            ("Variable", name),
            ("Value", value),
        )

    async def set_global(self, name: str, value: str) -> AmiFrame:
        """Set global dialplan variable ``name`` (AMI ``Setvar`` without a channel; write class
        ``call``); the recording announcement per queue and agent is published this way."""
        _variable(name, value)
        return await self._single(("Action", "Setvar"), ("Variable", name), ("Value", value))

    async def play_dtmf(self, channel: str, digit: str, *, receive: bool = False) -> AmiFrame:
        """Send one DTMF ``digit`` to ``channel``; ``receive`` makes Asterisk act as if the
        channel's phone had keyed it (ChanSpy's mode keys 4/5/6 are read that way)."""
        if not isinstance(digit, str) or not _DTMF.fullmatch(digit):
            raise ValidationFailed(
                "a DTMF digit is one of 0-9, *, #, A-D", details={"digit": repr(digit)}
            )
        headers = [("Action", "PlayDTMF"), ("Channel", _required("channel", channel))]
        headers.append(("Digit", digit))
        if receive:
            headers.append(("Receive", "true"))
        return await self._single(*headers)

    async def mute_recording(self, channel: str, muted: bool) -> AmiFrame:
        """Mute (silence) or unmute both directions of ``channel``'s MixMonitor.

        ``MixMonitorMute`` needs write ``call`` (or ``system``); the muted span is written as
        silence, so the file's length still matches the talk time.
        """
        return await self._single(
            ("Action", "MixMonitorMute"),
            ("Channel", _required("channel", channel)),
            ("Direction", "both"),
            ("State", "1" if muted else "0"),
        )

    async def stop_recording(self, channel: str) -> AmiFrame:
        """Stop ``channel``'s MixMonitor (``StopMixMonitor``, write ``call``)."""
        return await self._single(
            ("Action", "StopMixMonitor"), ("Channel", _required("channel", channel))
        )

    async def core_show_channels(self) -> list[AmiFrame]:
        """Return one ``CoreShowChannel`` event per live channel (for a resync)."""
        return _items(await self._connection.send_action([("Action", "CoreShowChannels")]))

    async def queue_status(self, queue: str | None = None) -> list[AmiFrame]:
        """Return the ``QueueParams``/``QueueMember``/``QueueEntry`` events (for a resync)."""
        headers = [("Action", "QueueStatus")]
        if queue is not None:
            headers.append(("Queue", _required("queue", queue)))
        return _items(await self._connection.send_action(headers))

    async def ping(self) -> AmiFrame:
        """Check that Asterisk answers."""
        return await self._single(("Action", "Ping"))

    async def send(self, action: Mapping[str, str]) -> AmiFrame | list[AmiFrame]:
        """Send any action; a list response comes back as every frame from ack to Complete."""
        headers = list(action.items())
        for key, value in headers:
            check_header(key, value)
        return await self._connection.send_action(headers)

    async def _single(self, *headers: tuple[str, str]) -> AmiFrame:
        return _first(await self._connection.send_action(list(headers)))


def _checked(field: str, value: str) -> str:
    """Return ``value`` if it is a safe header value; name the argument if it is not."""
    try:
        check_header("Value", value)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"{field} {exc.message.removeprefix('the AMI header Value ')}",
            details={"field": field, "value": repr(value)},
        ) from exc
    return value


def _required(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} is required", details={"field": field})
    return _checked(field, value)


def _priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise ValidationFailed(
            "priority must be a positive integer", details={"priority": priority}
        )
    return priority


def _variable(name: str, value: str) -> str:
    if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
        raise ValidationFailed(
            "an Originate variable name must be a dialplan variable name",
            details={"variable": repr(name)},
        )
    _checked(f"variable {name}", value)
    if _VARIABLE_VALUE_FORBIDDEN.search(value):
        raise ValidationFailed(
            f"variable {name} contains ',', '\"' or '\\', which Asterisk would split or strip",
            details={"variable": name, "value": repr(value)},
        )
    return f"{name}={value}"


def _first(result: AmiFrame | list[AmiFrame]) -> AmiFrame:
    return result[0] if isinstance(result, list) else result


def _items(result: AmiFrame | list[AmiFrame]) -> list[AmiFrame]:
    """Return the events of a list response, without its ack and its ``...Complete`` event."""
    if not isinstance(result, list):
        return []
    return [frame for frame in result[1:-1] if frame.is_event]
