"""The agent hub: every open websocket of every agent, numbered delivery, replay on reconnect.

:meth:`AgentHub.send` is synchronous and never awaits a socket: it numbers the message with the
agent's next ``seq``, keeps it in the agent's bounded replay buffer and appends it to the
bounded queue of each of the agent's connections. Each connection's queue is drained by its own
writer (:meth:`Connection.run`, a task the websocket handler owns). A connection that falls
behind (queue full, or one write blocked past ``send_timeout_s``) is closed with 1013 so the
browser reconnects and resumes; the others, and the caller of ``send``, never wait for it.

With several nodes (docs/scale-out.md) the numbering and the replay that outlive a node are the
broker's: :meth:`AgentHub.send` hands the frame to the :class:`~cti.cluster.Fanout`, which
gives it back numbered to the hub of every node serving a socket of the agent
(:meth:`AgentHub.deliver`; a socket is served within :meth:`AgentHub.serving`); a tab resuming
on a node whose own buffer lacks what it missed gets it from the broker first
(:meth:`AgentHub.catch_up`). In one process the fan-out is :class:`~cti.cluster.LocalFanout`:
one synchronous call.

Everything here runs on one event loop; call it from that loop's thread only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from agent_ui import messages
from agent_ui.messages import ActivePop, ResumeInfo
from agent_ui.protocol import CloseCode, Outgoing, encode
from cti.cluster.fanout import Fanout, LocalFanout, number_frame
from cti.errors import BrowserGone
from cti.principal import Principal

__all__ = ["AgentHub", "Connection", "HubLimits", "HubMetrics", "Sender", "SnapshotSource"]

log = logging.getLogger(__name__)

SnapshotSource = Callable[[str], Iterable[ActivePop]]  # agent -> the pops open for it now


class Sender(Protocol):
    """One websocket as the hub writes to it; raises BrowserGone once the socket is closed."""

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HubLimits:
    """Bounds on memory and patience; every figure is per agent or per connection."""

    replay_messages: int = 1000
    replay_seconds: float = 600.0
    replay_bytes: int = 8 * 1024 * 1024
    queue_messages: int = 256  # pending frames of one connection before it counts as slow
    queue_bytes: int = 4 * 1024 * 1024
    send_timeout_s: float = 10.0  # one frame blocked this long: the client is not reading
    close_timeout_s: float = 2.0


@dataclass(frozen=True, slots=True)
class HubMetrics:
    connected_agents: int
    connections: int
    messages_sent: int  # hub.send calls (each numbered once per agent)
    frames_queued: int  # frames put on connection queues (sends x tabs, replays, hellos)
    replays: int
    snapshots: int
    dropped_slow_clients: int


class _Stream:
    """One agent's numbering and replay buffer; outlives its connections."""

    __slots__ = ("buffer", "buffered_bytes", "connections", "seq")

    def __init__(self) -> None:
        self.seq = 0
        # (seq, monotonic time, frame); None while empty (an idle agent's empty deque: 600 B)
        self.buffer: deque[tuple[int, float, str]] | None = None
        self.buffered_bytes = 0
        self.connections: set[Connection] = set()


class Connection:
    """One browser tab's socket: a bounded queue of frames and the writer that drains it.

    Thousands of these live at once, mostly idle, so each holds little: slots, a plain list
    as the queue (an empty deque costs 600 bytes), and a bare future while the writer waits
    (an ``asyncio.Event`` costs a deque too).
    """

    __slots__ = (
        "_hub",
        "_limits",
        "_max_bytes",
        "_max_messages",
        "_peer_gone",
        "_pending",
        "_pending_bytes",
        "_send_scope",
        "_sender",
        "_waiter",
        "close_code",
        "close_reason",
        "position",
        "principal",
        "session_id",
    )

    def __init__(
        self,
        hub: AgentHub,
        principal: Principal,
        sender: Sender,
        limits: HubLimits,
        session_id: str | None,
    ) -> None:
        self.principal = principal
        self.session_id = session_id
        self.position = 0  # the seq of the last stream frame queued (or set by hello)
        self.close_code: int | None = None
        self.close_reason = ""
        self._hub = hub
        self._sender = sender
        self._limits = limits
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._max_messages = limits.queue_messages
        self._max_bytes = limits.queue_bytes
        self._waiter: asyncio.Future[None] | None = None  # set while the writer waits
        self._peer_gone = False
        self._send_scope: asyncio.Timeout | None = None

    @property
    def agent(self) -> str:
        return self.principal.username

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def reply(self, message: Outgoing) -> None:
        """Queue a message for this connection only; it repeats ``position``, never advances it."""
        if not self.closed and not self._offer(encode(message, self.position), self.position):
            self._hub._drop_slow(self)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Stop delivering to this connection and have its writer close the socket.

        Synchronous and idempotent; a write blocked on a slow socket is interrupted.
        """
        if self.closed:
            return
        self.close_code, self.close_reason = int(code), reason[:120]
        self._hub._forget(self)
        self._pending = []
        self._pending_bytes = 0
        self._wake()
        scope = self._send_scope
        if scope is not None and not scope.expired():
            scope.reschedule(asyncio.get_running_loop().time())

    def abandon(self) -> None:
        """Stop delivering because the browser already went away (no close frame to send)."""
        self._peer_gone = True
        self.close(CloseCode.GOING_AWAY, "browser gone")

    async def run(self) -> None:
        """Write queued frames until the connection closes, then close the socket."""
        try:
            while await self._ready():
                await self._drain()
        except BrowserGone:
            self.abandon()
        finally:
            if not self.closed:
                self.close(CloseCode.INTERNAL_ERROR, "writer failed")
            await self._close_socket()

    # ----------------------------------------------------------------------------- internals
    def _start(self, frames: Sequence[str], position: int) -> None:
        """Queue the greeting frames; they do not count against the slow-client bound."""
        self._pending.extend(frames)
        self._pending_bytes = sum(len(f) for f in frames)
        self._max_messages += len(frames)
        self._max_bytes += self._pending_bytes
        self.position = position
        self._wake()

    def _offer(self, frame: str, seq: int) -> bool:
        """Queue ``frame``; False when the queue is full (the connection is too slow)."""
        if (
            len(self._pending) >= self._max_messages
            or self._pending_bytes + len(frame) > self._max_bytes
        ):
            return False
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        self.position = seq
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _ready(self) -> bool:
        """Wait until a frame is queued; False once the connection is closed."""
        while not self._pending and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return not self.closed

    async def _drain(self) -> None:
        """Write the queued frames in order under one deadline, moved on as each one goes out."""
        timeout = self._limits.send_timeout_s
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(loop.time() + timeout) as scope:
                self._send_scope = scope
                try:
                    while self._pending and not self.closed:
                        frame = self._pending.pop(0)  # short: bounded by queue_messages
                        self._pending_bytes -= len(frame)
                        scope.reschedule(loop.time() + timeout)
                        await self._sender.send_text(frame)
                finally:
                    self._send_scope = None
        except TimeoutError:
            if not self.closed:  # the write itself timed out: a stalled reader
                self._hub._drop_slow(self)

    async def _close_socket(self) -> None:
        if self._peer_gone:
            return
        try:
            async with asyncio.timeout(self._limits.close_timeout_s):
                await self._sender.close(self.close_code or CloseCode.NORMAL, self.close_reason)
        except (TimeoutError, BrowserGone):
            pass  # the socket is dead or stuck; the server drops it when the handler returns


class AgentHub:
    """Per-agent numbered delivery to every open connection of that agent."""

    def __init__(
        self,
        snapshot_source: SnapshotSource | None = None,
        *,
        limits: HubLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        fanout: Fanout | None = None,
    ) -> None:
        # One process: seqs restart with it, so does the epoch. A cluster: the broker's.
        self._fanout: Fanout = fanout or LocalFanout(secrets.token_urlsafe(8))
        self._fanout.bind(self)
        self._snapshot_source: SnapshotSource = snapshot_source or (lambda agent: ())
        self._limits = limits or HubLimits()
        self._clock = clock
        self._wall_clock = wall_clock
        self._streams: dict[str, _Stream] = {}
        self._sent = self._queued = self._replays = self._snapshots = self._dropped = 0

    @property
    def epoch(self) -> str:
        return self._fanout.epoch

    @property
    def fanout(self) -> Fanout:
        return self._fanout

    def snapshots_from(self, source: SnapshotSource) -> None:
        """Take the pops open for an agent from ``source`` (the pop service, built after us)."""
        self._snapshot_source = source

    def open(
        self,
        principal: Principal,
        sender: Sender,
        *,
        last_seq: int | None,
        epoch: str | None = None,
        session_id: str | None = None,
        earlier: Sequence[tuple[int, str]] | None = None,
    ) -> Connection:
        """Register a connection that sent ``resume``; queue ``hello`` and its catch-up.

        The missed messages are replayed when the buffer still holds all of them (same epoch);
        otherwise a ``snapshot`` of the agent's open pops follows ``hello``. Registration and
        catch-up happen in one synchronous step, so no ``send`` can slip between them.
        ``earlier`` is what :meth:`catch_up` fetched from the broker's shared replay.
        """
        stream = self._streams.setdefault(principal.username, _Stream())
        self._prune(stream)
        conn = Connection(self, principal, sender, self._limits, session_id)
        missed = self._missed(stream, last_seq) if epoch == self.epoch else None
        if missed is None and earlier and epoch == self.epoch and last_seq is not None:
            missed = self._merged(stream, last_seq, earlier)
        if missed is not None:
            assert last_seq is not None
            info = ResumeInfo("replay", self.epoch, last_seq, replayed=len(missed))
            frames, self._replays = missed, self._replays + 1
        else:
            info = ResumeInfo("snapshot", self.epoch, stream.seq)
            pops = list(self._snapshot_source(principal.username))
            frames, self._snapshots = (
                [encode(messages.snapshot(pops), stream.seq)],
                self._snapshots + 1,
            )
        greeting = encode(messages.hello(principal, info, server_time=self._wall_clock()), info.seq)
        conn._start([greeting, *frames], stream.seq)
        self._queued += 1 + len(frames)
        stream.connections.add(conn)
        return conn

    def send(self, agent: str, message: Outgoing) -> int:
        """Number ``message`` for ``agent`` and queue it to all its connections; return the seq.

        Never blocks. A connection whose queue is full is closed (1013) and resumes later. With
        a broker the frame is numbered there and queued when it comes back (the seq returned
        is then 0); an invalid message raises ValidationFailed here, with nothing numbered.
        """
        return self._fanout.publish(agent, lambda seq: encode(message, seq))

    @contextmanager
    def serving(self, agent: str) -> Iterator[None]:
        """Have ``agent``'s frames come to this node while one of its sockets is served here.

        Wraps a socket's whole life, from before :meth:`catch_up` to after its connection
        closed: with a broker, a node holding no socket of an agent gets none of its frames.
        """
        self._fanout.attach(agent)
        try:
            yield
        finally:
            self._fanout.detach(agent)

    async def catch_up(
        self, agent: str, last_seq: int | None, epoch: str | None
    ) -> list[tuple[int, str]] | None:
        """Within :meth:`serving`, before :meth:`open`: fetch what this node's buffer lacks.

        Waits until the fan-out delivers here the frames numbered before this node served the
        agent; a tab that moved from another node finds older ones it missed in the broker.
        Frames newer than this node has seen are delivered at once (in order), so the stream
        stays whole. None when nothing was needed or found.
        """
        await self._fanout.attached(agent)
        if last_seq is None or epoch != self.epoch:
            return None
        stream = self._streams.get(agent)
        if stream is not None and self._missed(stream, last_seq) is not None:
            return None
        fetched = await self._fanout.missed(agent, last_seq)
        for seq, frame in fetched or ():
            if seq > self.position(agent):
                self.deliver(agent, seq, frame)
        return fetched

    async def kept(self, agent: str) -> list[str]:
        """Every frame of ``agent`` still kept here or in the broker's replay, in seq order.

        A node taking over a server reads it to learn which pops the agent's tabs show.
        """
        frames = dict(await self._fanout.kept(agent))
        stream = self._streams.get(agent)
        if stream is not None:
            frames.update((seq, frame) for seq, _, frame in stream.buffer or ())
        return [frames[seq] for seq in sorted(frames)]

    # ------------------------------------------------------------ the fan-out's sink (FrameSink)
    def position(self, agent: str) -> int:
        stream = self._streams.get(agent)
        return stream.seq if stream is not None else 0

    def deliver(self, agent: str, seq: int, frame: str) -> None:
        """Keep frame ``seq`` of ``agent`` for replay and queue it to the agent's connections."""
        stream = self._streams.setdefault(agent, _Stream())
        if seq <= stream.seq:
            return  # already here (the broker's replay overlapped its live feed)
        if stream.buffer is not None and seq != stream.seq + 1:
            stream.buffer, stream.buffered_bytes = None, 0  # a hole: keep the buffer whole
        stream.seq = seq
        if stream.buffer is None:
            stream.buffer = deque()
        stream.buffer.append((seq, self._clock(), frame))
        stream.buffered_bytes += len(frame)
        self._prune(stream)
        self._sent += 1
        for conn in list(stream.connections):
            if conn.position >= seq:
                continue  # it had this one from the broker's replay at open
            if conn._offer(frame, seq):
                self._queued += 1
            else:
                self._drop_slow(conn)

    def advance(self, agent: str, seq: int) -> None:
        """The broker numbered ``agent`` up to ``seq`` while this node did not serve it."""
        stream = self._streams.setdefault(agent, _Stream())
        if seq > stream.seq:
            stream.seq, stream.buffer, stream.buffered_bytes = seq, None, 0

    def deliver_live(self, agent: str, frame: str) -> None:
        """Queue another node's unnumbered frame (seq 0) as :meth:`notify` would have."""
        stream = self._streams.get(agent)
        for conn in list(stream.connections) if stream else []:
            if not conn._offer(number_frame(frame, conn.position), conn.position):
                self._drop_slow(conn)
            self._queued += 1

    def restart_epoch(self, epoch: str) -> None:
        """The broker lost the numbering: forget ours and make every tab resume afresh."""
        log.warning("the fan-out's numbering restarted (epoch %s): every tab resumes", epoch)
        self.close_all(CloseCode.TRY_AGAIN_LATER, "numbering restarted: resume")
        for stream in self._streams.values():
            stream.seq, stream.buffer, stream.buffered_bytes = 0, None, 0

    def notify(self, agent: str, message: Outgoing) -> int:
        """Queue ``message`` to every open connection of ``agent`` without numbering it.

        For live state re-sent whole whenever it changes (a supervisor's group view): like a
        ``pong`` it repeats each connection's current ``seq`` and is not kept for replay, so a
        client that does not know its type is not thrown off its numbering. A connection too
        slow to take it is closed (1013) as for :meth:`send`. Returns how many connections.
        """
        stream = self._streams.get(agent)
        connections = list(stream.connections) if stream else []
        for conn in connections:
            conn.reply(message)
        self._queued += len(connections)
        self._fanout.notify(agent, lambda seq: encode(message, seq))  # tabs on other nodes
        return len(connections)

    def broadcast(self, message: Outgoing) -> int:
        """Send ``message`` to every agent with an open connection; return how many agents."""
        agents = [agent for agent, stream in self._streams.items() if stream.connections]
        for agent in agents:
            self.send(agent, message)
        return len(agents)

    def disconnect(
        self,
        agent: str,
        *,
        session_id: str | None = None,
        code: int = CloseCode.POLICY_VIOLATION,
        reason: str = "",
    ) -> int:
        """Close ``agent``'s connections (only those of ``session_id`` if given) on every node.

        Returns how many this node closed.
        """
        self._fanout.disconnect(agent, session_id, code, reason)
        return self.disconnect_local(agent, session_id, code, reason)

    def disconnect_local(self, agent: str, session_id: str | None, code: int, reason: str) -> int:
        """Close ``agent``'s connections on this node (only those of ``session_id`` if given)."""
        stream = self._streams.get(agent)
        victims = [
            c
            for c in (stream.connections if stream else ())
            if session_id is None or c.session_id == session_id
        ]
        for conn in victims:
            conn.close(code, reason)
        return len(victims)

    def close_all(self, code: int = CloseCode.GOING_AWAY, reason: str = "shutting down") -> None:
        """Close every connection (daemon shutdown); their writers then finish."""
        for stream in self._streams.values():
            for conn in list(stream.connections):
                conn.close(code, reason)

    def connections_of(self, agent: str) -> int:
        stream = self._streams.get(agent)
        return len(stream.connections) if stream else 0

    def metrics(self) -> HubMetrics:
        live = [s for s in self._streams.values() if s.connections]
        return HubMetrics(
            connected_agents=len(live),
            connections=sum(len(s.connections) for s in live),
            messages_sent=self._sent,
            frames_queued=self._queued,
            replays=self._replays,
            snapshots=self._snapshots,
            dropped_slow_clients=self._dropped,
        )

    # ----------------------------------------------------------------------------- internals
    def _missed(self, stream: _Stream, last_seq: int | None) -> list[str] | None:
        """Return the frames after ``last_seq`` if the buffer holds all of them, else None."""
        if last_seq is None or last_seq > stream.seq:
            return None
        if last_seq == stream.seq:
            return []
        if not stream.buffer or stream.buffer[0][0] > last_seq + 1:
            return None
        return [frame for seq, _, frame in stream.buffer if seq > last_seq]

    def _merged(
        self, stream: _Stream, last_seq: int, earlier: Sequence[tuple[int, str]]
    ) -> list[str] | None:
        """The frames after ``last_seq`` from the broker's replay and our buffer, if all there."""
        frames = {seq: frame for seq, frame in earlier if seq > last_seq}
        frames.update((seq, frame) for seq, _, frame in stream.buffer or () if seq > last_seq)
        wanted = range(last_seq + 1, stream.seq + 1)
        if len(frames) < len(wanted) or any(seq not in frames for seq in wanted):
            return None
        return [frames[seq] for seq in wanted]

    def _prune(self, stream: _Stream) -> None:
        limits, oldest = self._limits, self._clock() - self._limits.replay_seconds
        buffer = stream.buffer
        while buffer and (
            len(buffer) > limits.replay_messages
            or stream.buffered_bytes > limits.replay_bytes
            or buffer[0][1] < oldest
        ):
            stream.buffered_bytes -= len(buffer.popleft()[2])
        if not buffer:
            stream.buffer = None

    def _forget(self, conn: Connection) -> None:
        stream = self._streams.get(conn.agent)
        if stream is not None:
            stream.connections.discard(conn)

    def _drop_slow(self, conn: Connection) -> None:
        if conn.closed:
            return
        self._dropped += 1
        log.warning(
            "agent %s: connection too slow (%d frames pending); closed to resume",
            conn.agent,
            conn.pending,
        )
        conn.close(CloseCode.TRY_AGAIN_LATER, "too slow: reconnect and resume")
