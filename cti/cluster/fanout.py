"""The fan-out port: how a frame for an agent reaches that agent's sockets on every node.

The hub (web edge) never numbers frames itself: it hands each agent-bound frame to a
:class:`Fanout`, and the fan-out hands it back, numbered, to the :class:`FrameSink` of every
node that serves sockets. In one process (:class:`LocalFanout`) that is one synchronous call and
the numbering is the hub's own counter, so the default costs what it did. With a broker the
number comes from the broker (an agent's sequence survives a move between nodes) and so does
the replay a reconnecting tab needs (:meth:`Fanout.missed`).

A frame is passed as ``frame_for(seq)``, the function that encodes it for a given number: the
local fan-out calls it once with the real number; a broker fan-out encodes it with seq 0 and the
number is set where it is known (:func:`number_frame`). A node says which agents it serves
(:meth:`Fanout.attach`, :meth:`Fanout.detach`), so that a broker fan-out need carry an agent's
frames only to the nodes holding a socket of that agent.
"""

from __future__ import annotations

from typing import Protocol

from cti.frames import FrameFor, FrameSink, number_frame, unnumbered

__all__ = ["Fanout", "FrameFor", "FrameSink", "LocalFanout", "number_frame", "unnumbered"]


class Fanout(Protocol):
    """Carry agent-bound frames from the node that made them to every node's sockets."""

    @property
    def epoch(self) -> str:
        """Names the numbering: a client resuming with another epoch gets a snapshot."""
        ...

    def bind(self, sink: FrameSink) -> None:
        """Deliver to ``sink`` (this node's hub); called once, before :meth:`start`."""
        ...

    def attach(self, agent: str) -> None:
        """A socket of ``agent`` is served on this node from now on; never blocks.

        Counted: each attach is undone by one :meth:`detach`. From the first, every frame of
        ``agent`` reaches this node: those numbered before it (that the shared replay holds)
        first, then the later ones, in order. A node holding no socket of an agent need not get
        its frames.
        """
        ...

    def detach(self, agent: str) -> None:
        """A socket of ``agent`` on this node closed (one :meth:`attach` undone); never blocks."""
        ...

    async def attached(self, agent: str) -> bool:
        """Wait until :meth:`attach` took effect: the frames numbered before it are delivered.

        False if it did not within a bound (the broker is away): they come when it is back.
        """
        ...

    def publish(self, agent: str, frame_for: FrameFor) -> int:
        """Number a frame for ``agent`` and deliver it everywhere; never blocks.

        Returns the seq when it is known at once (in one process), else 0. Raises whatever
        ``frame_for`` raises, with nothing numbered.
        """
        ...

    def notify(self, agent: str, frame_for: FrameFor) -> None:
        """Deliver an unnumbered frame to ``agent``'s sockets on every other node; never blocks.

        The receiving hub puts each socket's own position in place of the seq.
        """
        ...

    def disconnect(self, agent: str, session_id: str | None, code: int, reason: str) -> None:
        """Close ``agent``'s sockets on every other node (a session ended); never blocks."""
        ...

    async def missed(self, agent: str, after: int) -> list[tuple[int, str]] | None:
        """The frames numbered after ``after`` that the shared replay still holds, in order.

        None when it does not hold them all (or there is no shared replay): the caller falls
        back to its own buffer, then to a snapshot.
        """
        ...

    async def kept(self, agent: str) -> list[tuple[int, str]]:
        """Every frame the shared replay still holds for ``agent``, numbered, oldest first.

        What a node taking over a server asks to learn which pops the agent's tabs already
        show ([] without a shared replay: the hub's own buffer is all there is).
        """
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalFanout:
    """One process: number with the hub's counter and deliver at once (the default)."""

    def __init__(self, epoch: str) -> None:
        self._epoch = epoch
        self._sink: FrameSink | None = None

    @property
    def epoch(self) -> str:
        return self._epoch

    def bind(self, sink: FrameSink) -> None:
        self._sink = sink

    def attach(self, agent: str) -> None:
        del agent  # every frame is delivered here: there is no other node

    def detach(self, agent: str) -> None:
        del agent

    async def attached(self, agent: str) -> bool:
        del agent
        return True

    def publish(self, agent: str, frame_for: FrameFor) -> int:
        sink = self._sink
        assert sink is not None, "bind() first"
        seq = sink.position(agent) + 1
        sink.deliver(agent, seq, frame_for(seq))  # frame_for raises before anything changes
        return seq

    def notify(self, agent: str, frame_for: FrameFor) -> None:
        del agent, frame_for  # there is no other node

    def disconnect(self, agent: str, session_id: str | None, code: int, reason: str) -> None:
        del agent, session_id, code, reason  # there is no other node

    async def missed(self, agent: str, after: int) -> list[tuple[int, str]] | None:
        del agent, after
        return None  # the hub's own buffer is the only one

    async def kept(self, agent: str) -> list[tuple[int, str]]:
        del agent
        return []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
