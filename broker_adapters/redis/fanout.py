"""Fan-out of agent frames through Redis: one script call numbers, keeps and routes a frame.

Hot path: :meth:`RedisFanout.publish` encodes the frame with seq 0 and queues it; one task sends
the queue in pipelined batches of ``EVAL`` calls, each of which (atomically, in Redis)
increments the agent's counter, appends the frame to the agent's replay Stream (entry id
``<seq>-1``, trimmed to ``replay_messages``, expiring after ``replay_seconds``) and publishes
``<seq>\\n<agent>\\n<frame>`` on the frames channel of each node holding the agent (its
presence set, :mod:`broker_adapters.redis.scripts`). Publishing order is the script's order, so
an agent's frames arrive in seq order on every node holding it; a node holding none of an
agent's sockets receives none of its frames.

A node holds an agent from the first socket of it opening here (:meth:`RedisFanout.attach`) to
the last closing (:meth:`RedisFanout.detach`). Attaching adds the node's entry and, in the same
script, reads the agent's last seq and the frames numbered since this node last had one: those
are delivered first, and the live frames that arrive meanwhile wait until they are, so none is
lost or reordered between the two. Entries and removals go to Redis in the order they were
made, on the publishing task. Entries expire after ``presence_ttl_s`` unless renewed (every
third of it): a node killed with entries is no longer published to once they expire. One found
expired while the node still holds the agent (it could not renew in time) is joined again the
same way, so the frames numbered meanwhile come from the replay Stream.

After a lost connection the subscriber re-subscribes, checks the epoch (a broker that lost its
data starts a new one: every tab then resumes with a snapshot), then joins every agent held here
again, which delivers what they missed before the live feed goes on.

``EVAL`` rather than ``EVALSHA``: a pipeline holding ``EVALSHA`` calls first asks Redis whether
the script is loaded (``SCRIPT EXISTS``, a round trip of its own before every batch), and a
restarted Redis has forgotten it: ``NOSCRIPT`` for some calls of a batch and not others could
number an agent's frames out of order. The script rides along with each frame (a pop is 2,000
characters or more) and Redis finds it in its cache by its hash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from broker_adapters.redis import scripts
from broker_adapters.redis.client import BrokerKeys, is_connection_error, translated
from cti.errors import BrokerUnavailable
from cti.frames import FrameFor, FrameSink, number_frame, unnumbered

__all__ = ["RedisFanout"]

log = logging.getLogger(__name__)

_ATTACH_READS_MOST = 64  # frames an agent's first socket here has read for this node's buffer
_RENEW_KEYS = 500  # presence entries renewed per script call


@dataclass(frozen=True, slots=True)
class _Change:
    """A presence change waiting to be sent: a join, or a leave (``joined`` None)."""

    agent: str
    joined: asyncio.Future[None] | None = None  # set once the join's answer is delivered
    reads_most: int = 0  # a join reads what this node missed if it is no more than that


class RedisFanout:
    """The :class:`cti.cluster.Fanout` of a cluster whose broker is Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: BrokerKeys,
        node: str,
        *,
        replay_messages: int = 1000,
        replay_seconds: float = 600.0,
        presence_ttl_s: float = 15.0,
        attach_timeout_s: float = 2.0,
        max_pending: int = 100_000,
        batch: int = 256,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._node = node
        self._channel = keys.frames(node)
        self._channel_prefix = keys.frames("")  # + a node's id: the script routes by it
        self._replay_messages = replay_messages
        self._maxlen = str(replay_messages)  # script arguments go as strings
        self._expire_ms = str(int(replay_seconds * 1000))
        self._presence_ttl_s = presence_ttl_s
        self._presence_ttl_ms = str(int(presence_ttl_s * 1000))
        self._attach_timeout_s = attach_timeout_s
        self._max_pending = max_pending
        self._batch = batch
        self._epoch = ""
        self._sink: FrameSink | None = None
        self._pending: deque[tuple[str, str]] = deque()  # (agent, frame with seq 0)
        # Presence: sockets held here per agent; changes not yet sent, in order; the latest
        # join of each agent still under way; live frames waiting for it, per agent.
        self._holds: dict[str, int] = {}
        self._changes: deque[_Change] = deque()
        self._joins: dict[str, asyncio.Future[None]] = {}
        self._waiting: dict[str, list[tuple[int, str]]] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.dropped = 0
        self.reconnects = 0

    @property
    def epoch(self) -> str:
        return self._epoch

    def bind(self, sink: FrameSink) -> None:
        self._sink = sink

    # ------------------------------------------------------------------ the hot path
    def publish(self, agent: str, frame_for: FrameFor) -> int:
        frame = unnumbered(frame_for)  # raises before anything is queued
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
            log.error(
                "broker unreachable and %d frames pending: oldest dropped", len(self._pending)
            )
        self._pending.append((agent, frame))
        self._wakeup.set()
        return 0

    def notify(self, agent: str, frame_for: FrameFor) -> None:
        self._send_control(self._keys.live, {"agent": agent, "frame": unnumbered(frame_for)})

    def disconnect(self, agent: str, session_id: str | None, code: int, reason: str) -> None:
        body = {"agent": agent, "session": session_id, "code": code, "reason": reason}
        self._send_control(self._keys.control, body)

    # ------------------------------------------------------------------ presence
    def attach(self, agent: str) -> None:
        """One more socket of ``agent`` here; the first one joins (see the module's doc)."""
        held = self._holds.get(agent, 0)
        self._holds[agent] = held + 1
        if held == 0:  # the read only fills this node's buffer: its tab reads what it lacks
            self._join(agent, _ATTACH_READS_MOST)

    def detach(self, agent: str) -> None:
        """One socket of ``agent`` less here; after the last one, frames stop coming here."""
        held = self._holds.get(agent, 0)
        if held > 1:
            self._holds[agent] = held - 1
        elif held == 1:
            del self._holds[agent]
            self._changes.append(_Change(agent))
            self._wakeup.set()

    async def attached(self, agent: str) -> bool:
        """Wait until the agent's join is done; False if the broker did not answer in time."""
        joining = self._joins.get(agent)
        if joining is None:
            return True
        try:
            async with asyncio.timeout(self._attach_timeout_s):
                await asyncio.shield(joining)
        except TimeoutError:
            log.warning("agent %s: the broker did not answer the join in time", agent)
            return False
        return True

    def _join(self, agent: str, reads_most: int) -> None:
        """Queue a join; from now on the agent's live frames wait until the join is delivered."""
        future = asyncio.get_running_loop().create_future()
        self._joins[agent] = future
        self._waiting.setdefault(agent, [])
        self._changes.append(_Change(agent, future, reads_most))
        self._wakeup.set()

    def _joined(self, agent: str, answer: Any, future: asyncio.Future[None]) -> None:
        """Deliver what a join read, then the live frames that waited for it (if it is the
        agent's latest join: an earlier one's answer may be older than a later leave)."""
        sink = self._sink
        assert sink is not None
        last, entries = int(answer[0]), answer[1]
        for entry_id, fields in entries:
            seq = int(entry_id.split("-")[0])
            sink.deliver(agent, seq, number_frame(fields[1], seq))
        if last > sink.position(agent):
            sink.advance(agent, last)  # not read: this node's buffer starts again there
        if self._joins.get(agent) is future:
            del self._joins[agent]
            for seq, frame in self._waiting.pop(agent, ()):
                sink.deliver(agent, seq, number_frame(frame, seq))
        if not future.done():
            future.set_result(None)

    async def _renew_forever(self) -> None:
        """Renew this node's entries every third of their ttl; join again where one lapsed."""
        while True:
            await asyncio.sleep(self._presence_ttl_s / 3)
            agents = [agent for agent in self._holds if agent not in self._joins]
            try:
                lapsed = await self._renew(agents)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                log.warning("broker: cannot renew this node's presence (%s)", exc)
                continue
            for agent in lapsed:
                if agent in self._holds and agent not in self._joins:
                    log.warning("agent %s: this node's presence had expired; joining again", agent)
                    self._join(agent, self._replay_messages)

    async def _renew(self, agents: list[str]) -> list[str]:
        lapsed: list[str] = []
        for first in range(0, len(agents), _RENEW_KEYS):
            chunk = agents[first : first + _RENEW_KEYS]
            keys = [self._keys.presence(agent) for agent in chunk]
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.eval(scripts.RENEW, len(keys), *keys, self._node, self._presence_ttl_ms)
                (indexes,) = await pipe.execute()
            lapsed += [chunk[int(i) - 1] for i in indexes]
        return lapsed

    # ------------------------------------------------------------------ replay
    async def missed(self, agent: str, after: int) -> list[tuple[int, str]] | None:
        """The frames after ``after`` in the agent's replay Stream, if it holds all of them."""
        try:
            with translated("reading an agent's replay"):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.get(self._keys.seq(agent))
                    pipe.xrange(self._keys.replay(agent), min=f"{after + 1}-0", max="+")
                    last, entries = await pipe.execute()
        except BrokerUnavailable as exc:
            log.warning("agent %s: no shared replay (%s)", agent, exc)
            return None
        last = int(last or 0)
        frames = [(int(entry_id.split("-")[0]), fields["f"]) for entry_id, fields in entries]
        if after > last or [seq for seq, _ in frames] != list(range(after + 1, last + 1)):
            return None
        return [(seq, number_frame(frame, seq)) for seq, frame in frames]

    async def kept(self, agent: str) -> list[tuple[int, str]]:
        """Whatever the agent's replay Stream still holds ([] if the broker is unreachable)."""
        try:
            with translated("reading an agent's replay"):
                entries = await self._redis.xrange(self._keys.replay(agent), min="-", max="+")
        except BrokerUnavailable as exc:
            log.warning("agent %s: no shared replay (%s)", agent, exc)
            return []
        numbered = ((int(entry_id.split("-")[0]), fields["f"]) for entry_id, fields in entries)
        return [(seq, number_frame(frame, seq)) for seq, frame in numbered]

    # ------------------------------------------------------------------ running
    async def start(self, timeout_s: float = 10.0) -> None:
        """Agree on the epoch and subscribe; raise BrokerUnavailable if Redis is not there."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    try:
                        self._epoch = await self._agreed_epoch()
                        break
                    except BrokerUnavailable as exc:
                        log.warning("waiting for the broker: %s", exc)
                        await asyncio.sleep(0.5)
        except TimeoutError:
            raise BrokerUnavailable(f"no broker within {timeout_s:.0f} s") from None
        ready = asyncio.get_running_loop().create_future()
        self._tasks = [
            asyncio.create_task(self._publish_forever(), name="fanout-publish"),
            asyncio.create_task(self._subscribe_forever(ready), name="fanout-subscribe"),
            asyncio.create_task(self._renew_forever(), name="fanout-presence"),
        ]
        await ready

    async def close(self) -> None:
        """Send what is pending (briefly), then stop."""
        for _ in range(20):
            if not self._pending and not self._changes:
                break
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._redis.aclose()

    async def _agreed_epoch(self) -> str:
        with translated("agreeing on the epoch"):
            await self._redis.set(self._keys.epoch, secrets.token_urlsafe(8), nx=True)
            epoch = await self._redis.get(self._keys.epoch)
        return str(epoch)

    async def _publish_forever(self) -> None:
        backoff = 0.1
        while True:
            if not self._pending and not self._changes:
                self._wakeup.clear()
                await self._wakeup.wait()
            changes = list(self._changes)
            batch = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
            try:
                answers = await self._send(changes, batch)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                log.warning("broker: cannot publish %d frames (%s); retrying", len(batch), exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            for _ in changes:
                self._changes.popleft()
            for _ in batch:
                self._pending.popleft()
            self.published += len(batch)
            for change, answer in zip(changes, answers, strict=False):
                if change.joined is not None:
                    self._joined(change.agent, answer, change.joined)

    async def _send(
        self,
        changes: list[_Change],
        batch: list[tuple[str, str]],
    ) -> list[Any]:
        """One round trip for presence changes and a batch of frames and control messages."""
        sink = self._sink
        assert sink is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for change in changes:
                agent = change.agent
                presence = self._keys.presence(agent)
                if change.joined is None:
                    pipe.zrem(presence, self._node)
                    continue
                pipe.eval(
                    scripts.JOIN,
                    3,
                    presence,
                    self._keys.seq(agent),
                    self._keys.replay(agent),
                    self._node,
                    self._presence_ttl_ms,
                    str(sink.position(agent)),  # what this node has
                    str(change.reads_most),
                )
            for agent, payload in batch:
                if agent.startswith(_CONTROL):
                    pipe.publish(agent[len(_CONTROL) :], payload)
                    continue
                pipe.eval(
                    scripts.PUBLISH,
                    3,
                    self._keys.seq(agent),
                    self._keys.replay(agent),
                    self._keys.presence(agent),
                    agent,
                    payload,
                    self._maxlen,
                    self._expire_ms,
                    self._channel_prefix,
                )
            answers: list[Any] = await pipe.execute()
        return answers

    def _send_control(self, channel: str, body: dict[str, Any]) -> None:
        """Queue a control message behind the frames already pending (order is kept)."""
        body["origin"] = self._node
        self._pending.append((_CONTROL + channel, json.dumps(body)))
        self._wakeup.set()

    # ------------------------------------------------------------------ receiving
    async def _subscribe_forever(self, ready: asyncio.Future[None]) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel, self._keys.live, self._keys.control)
                if not first:
                    await self._recover()
                if not ready.done():
                    ready.set_result(None)
                first, backoff = False, 0.1
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._receive(message["channel"], message["data"])
            except Exception as exc:
                if not is_connection_error(exc) and not isinstance(exc, BrokerUnavailable):
                    raise
                self.reconnects += 1
                log.warning("broker connection lost (%s); re-subscribing", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _recover(self) -> None:
        """After a lost subscription: same epoch? then join every agent held here again (which
        delivers what they missed, the live frames waiting behind it)."""
        sink = self._sink
        assert sink is not None
        epoch = await self._agreed_epoch()
        if epoch != self._epoch:
            self._epoch = epoch
            sink.restart_epoch(epoch)
            return
        for agent in self._holds:
            self._join(agent, self._replay_messages)  # the tabs here need all they missed

    def _receive(self, channel: str, data: str) -> None:
        sink = self._sink
        assert sink is not None
        if channel == self._channel:
            seq, agent, frame = data.split("\n", 2)
            waiting = self._waiting.get(agent) if self._waiting else None
            if waiting is not None:
                waiting.append((int(seq), frame))  # behind the join under way
                return
            sink.deliver(agent, int(seq), number_frame(frame, int(seq)))
            return
        body = json.loads(data)
        if body.get("origin") == self._node:
            return  # this node already did it for its own sockets
        if channel == self._keys.live:
            sink.deliver_live(body["agent"], body["frame"])
        elif channel == self._keys.control:
            sink.disconnect_local(body["agent"], body["session"], body["code"], body["reason"])


_CONTROL = "\x00"  # marks a pending control message: its "agent" is \x00 + the channel
