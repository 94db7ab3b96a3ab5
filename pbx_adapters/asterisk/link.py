"""One TCP connection to Asterisk: its transport, framer, actions in flight, and its end.

A link never outlives its socket. When it ends, every action still waiting fails with
:class:`~cti.errors.AmiConnectionLost` (the outcome is unknown: Asterisk may have run it) and
nothing is ever sent again on another link; the caller decides whether to retry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cti.errors import AmiConnectionLost
from pbx_adapters.asterisk.correlation import Correlator, Reply, Routed
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.framer import AmiFramer, FramerStats

__all__ = ["ActionResult", "AmiLink", "Pending"]

ActionResult = AmiFrame | list[AmiFrame]


@dataclass(slots=True)
class Pending:
    """An action written to the socket, waiting for its answer."""

    action: str
    future: asyncio.Future[ActionResult]


class AmiLink:
    """State of one TCP connection; ``lost`` resolves (with the reason) when it ends."""

    def __init__(self, server: str, stats: FramerStats) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.framer = AmiFramer(stats=stats)
        self.pending: dict[str, Pending] = {}
        self.lost: asyncio.Future[AmiConnectionLost] = asyncio.get_running_loop().create_future()
        self.resynced = False  # logged in and the login hook (the resync) finished on this link
        self._correlator = Correlator(server)

    @property
    def usable(self) -> bool:
        """Return True while the socket is open and the link has not ended."""
        return self.transport is not None and not self.lost.done()

    def send(self, action_id: str, action: str, payload: bytes) -> Pending:
        """Register an action and write it; the caller checked ``usable`` and the payload."""
        assert self.transport is not None
        pending = Pending(action, asyncio.get_running_loop().create_future())
        self._correlator.open(action_id, action)
        self.pending[action_id] = pending
        self.transport.write(payload)
        return pending

    def forget(self, action_id: str) -> None:
        """Stop waiting for an action (answered, timed out or cancelled)."""
        self._correlator.forget(action_id)
        self.pending.pop(action_id, None)

    def route(self, frame: AmiFrame) -> bool:
        """Give ``frame`` to the action it answers; return False if it belongs to no action."""
        routed = self._correlator.route(frame)
        if isinstance(routed, Reply):
            self._settle(routed)
            return True
        return routed is Routed.CONSUMED

    def drop(self, error: AmiConnectionLost) -> None:
        """End the link now: fail every action in flight (never re-sent), abort the socket."""
        if self.lost.done():
            return
        self._correlator.forget_all()
        pending, self.pending = self.pending, {}
        for action_id, waiting in pending.items():
            if not waiting.future.done():
                lost = AmiConnectionLost(
                    f"AMI connection to {self.server} lost while {waiting.action} was in flight; "
                    "its outcome is unknown",
                    details={**error.details, "action": waiting.action, "action_id": action_id},
                )
                lost.__cause__ = error.__cause__
                waiting.future.set_exception(lost)
        self.lost.set_result(error)
        if self.transport is not None:
            self.transport.abort()

    def _settle(self, reply: Reply) -> None:
        pending = self.pending.pop(reply.action_id, None)
        if pending is None or pending.future.done():
            return
        if reply.error is not None:
            pending.future.set_exception(reply.error)
        else:
            pending.future.set_result(reply.result)
