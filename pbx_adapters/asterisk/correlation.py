"""Sans-IO correlation of AMI responses to the actions waiting for them (one TCP connection).

Asterisk echoes an action's ``ActionID`` in its response and, for list actions, in every event
of the list (``main/manager.c``: ``astman_send_listack`` then events then ``...Complete``). An
exchange therefore ends on:

* a response that is not a list acknowledgement: ``Response: Success`` / ``Goodbye`` /
  ``Follows`` complete it with that frame; ``Response: Error`` completes it with
  :class:`~cti.errors.AmiActionFailed`;
* for a list (``EventList: start``, or an older Asterisk's "... will follow" message), the event
  carrying ``EventList: Complete`` or a name ending in ``Complete``.

Events with a known ``ActionID`` that arrive outside a list (``OriginateResponse`` after the
``Originate`` acknowledgement, for one) are not claimed: they belong to the event stream.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cti.errors import AmiActionFailed
from pbx_adapters.asterisk.frame import AmiFrame

__all__ = ["Correlator", "Reply", "Routed"]

_FAILURE_RESPONSES = frozenset({"error", "fail", "failure"})


class Routed(enum.Enum):
    """What :meth:`Correlator.route` did with a frame that completed nothing."""

    UNRELATED = "unrelated"  # not part of any open exchange: an ordinary event or a stray reply
    CONSUMED = "consumed"  # part of an open list; the exchange goes on


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished exchange: the frames Asterisk answered with, or the refusal."""

    action_id: str
    action: str
    frames: tuple[AmiFrame, ...]
    listing: bool
    error: AmiActionFailed | None = None

    @property
    def result(self) -> AmiFrame | list[AmiFrame]:
        """Return the response frame, or for a list every frame from the ack to ``Complete``."""
        return list(self.frames) if self.listing else self.frames[0]


@dataclass(slots=True)
class _Exchange:
    action: str
    frames: list[AmiFrame] = field(default_factory=list)
    listing: bool = False


class Correlator:
    """Track the actions sent on one connection and match frames to them by ``ActionID``."""

    def __init__(self, server: str = "") -> None:
        self._server = server
        self._open: dict[str, _Exchange] = {}

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._open

    def open(self, action_id: str, action: str) -> None:
        """Start waiting for the answer to ``action``; raise ``KeyError`` if the id is taken."""
        if action_id in self._open:
            raise KeyError(action_id)
        self._open[action_id] = _Exchange(action)

    def forget(self, action_id: str) -> None:
        """Stop waiting (the caller gave up); a late answer is then unrelated."""
        self._open.pop(action_id, None)

    def forget_all(self) -> list[str]:
        """Stop waiting for everything (the connection is gone); return the ids dropped."""
        ids = list(self._open)
        self._open.clear()
        return ids

    def route(self, frame: AmiFrame) -> Reply | Routed:
        """Match one received frame; return the finished exchange, if this frame ends one."""
        action_id = frame.get("ActionID")
        exchange = self._open.get(action_id) if action_id else None
        if exchange is None:
            return Routed.UNRELATED
        if frame.is_event:
            return self._route_event(action_id, exchange, frame)
        if exchange.frames:
            return Routed.UNRELATED  # a second response to one action: not ours to interpret
        exchange.frames.append(frame)
        if frame.name.lower() in _FAILURE_RESPONSES:
            return self._finish(action_id, exchange, self._failure(action_id, exchange, frame))
        if _starts_list(frame):
            exchange.listing = True
            return Routed.CONSUMED
        return self._finish(action_id, exchange)

    def _route_event(self, action_id: str, exchange: _Exchange, frame: AmiFrame) -> Reply | Routed:
        if not exchange.listing:
            return Routed.UNRELATED  # e.g. OriginateResponse: part of the event stream
        exchange.frames.append(frame)
        if frame.get("EventList").lower() == "complete" or frame.name.endswith("Complete"):
            return self._finish(action_id, exchange)
        return Routed.CONSUMED

    def _finish(
        self, action_id: str, exchange: _Exchange, error: AmiActionFailed | None = None
    ) -> Reply:
        del self._open[action_id]
        return Reply(action_id, exchange.action, tuple(exchange.frames), exchange.listing, error)

    def _failure(self, action_id: str, exchange: _Exchange, frame: AmiFrame) -> AmiActionFailed:
        message = frame.get("Message") or f"Asterisk refused {exchange.action}"
        details: dict[str, object] = {
            "server": self._server,
            "action": exchange.action,
            "action_id": action_id,
            "response": frame.as_dict(),
        }
        return AmiActionFailed(message, details=details)


def _starts_list(frame: AmiFrame) -> bool:
    """Return True if a success response announces a list of events to follow."""
    if frame.get("EventList").lower() == "start":
        return True
    # Asterisk < 12 announced some lists only in the message ("Channel status will follow").
    return "will follow" in frame.get("Message").lower()
