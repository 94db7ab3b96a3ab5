"""Numbered frames between a node's hub and the fan-out that carries them (kernel: no I/O).

The port itself is :class:`cti.cluster.Fanout`; these are the pieces a broker adapter needs
too: the sink it delivers to, and how a frame encoded with seq 0 gets its number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["FrameFor", "FrameSink", "number_frame", "unnumbered"]

FrameFor = Callable[[int], str]  # seq -> the encoded frame

_SLOT = '"seq":0,'


class FrameSink(Protocol):
    """What a node's hub takes from the fan-out (called on the hub's event loop only)."""

    def position(self, agent: str) -> int:
        """The last seq this node numbered or delivered for ``agent`` (0: none)."""
        ...

    def deliver(self, agent: str, seq: int, frame: str) -> None:
        """Keep frame ``seq`` for replay and queue it to ``agent``'s sockets on this node."""
        ...

    def advance(self, agent: str, seq: int) -> None:
        """``agent`` was numbered up to ``seq`` while this node did not hold it, and those frames
        are not at hand: keep none before it (a tab that needs them reads them elsewhere)."""
        ...

    def deliver_live(self, agent: str, frame: str) -> None:
        """Queue an unnumbered frame (live state, not replayed) to ``agent``'s sockets."""
        ...

    def disconnect_local(self, agent: str, session_id: str | None, code: int, reason: str) -> int:
        """Close ``agent``'s sockets on this node (those of ``session_id`` if given); count them."""
        ...

    def restart_epoch(self, epoch: str) -> None:
        """The numbering began again (the broker lost it): close every socket to resume."""
        ...


def unnumbered(frame_for: FrameFor) -> str:
    """Encode a frame with seq 0, for a broker to number (see :func:`number_frame`)."""
    frame = frame_for(0)
    if _SLOT not in frame:
        raise ValueError("the frame has no seq slot")
    return frame


def number_frame(frame: str, seq: int) -> str:
    """Put ``seq`` into a frame encoded with seq 0: the first ``"seq":0,`` is the envelope's.

    The envelope is ``{"type":T,"seq":N,"data":...}`` with a plain type name, so the first
    occurrence is always the envelope's own (data comes after it).
    """
    return frame.replace(_SLOT, f'"seq":{seq},', 1)
