"""Fan-out of agent frames through Redis: one script call numbers, keeps and publishes a frame.

Hot path: :meth:`RedisFanout.publish` encodes the frame with seq 0 and queues it; one task sends
the queue in pipelined batches of ``EVAL`` calls, each of which (atomically, in Redis)
increments the agent's counter, appends the frame to the agent's replay Stream (entry id
``<seq>-1``, trimmed to ``replay_messages``, expiring after ``replay_seconds``) and publishes
``<seq>\\n<agent>\\n<frame>`` on the frames channel. Every node, the producer included, gets it
from its subscription and hands it to its hub. Publishing order is the script's order, so each
agent's frames arrive in seq order on every node.

After a lost connection the subscriber re-subscribes, checks the epoch (a broker that lost its
data starts a new one: every tab then resumes with a snapshot), then fetches from the replay
Streams what the agents connected here missed, before reading the live feed again.

``EVAL`` rather than ``EVALSHA``: a pipeline holding ``EVALSHA`` calls first asks Redis whether
the script is loaded (``SCRIPT EXISTS``, a round trip of its own before every batch), and a
restarted Redis has forgotten it: ``NOSCRIPT`` for some calls of a batch and not others could
number an agent's frames out of order. The script's 400 characters ride along with each frame
(a pop is 2,000 or more) and Redis finds it in its cache by its hash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from typing import Any

import redis.asyncio as aioredis

from broker_adapters.redis.client import BrokerKeys, is_connection_error, translated
from cti.errors import BrokerUnavailable
from cti.frames import FrameFor, FrameSink, number_frame, unnumbered

__all__ = ["RedisFanout"]

log = logging.getLogger(__name__)

# KEYS: seq counter, replay stream. ARGV: agent, frame, maxlen, expire ms, channel.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-1', 'f', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[5], seq .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
return seq
"""


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
        max_pending: int = 100_000,
        batch: int = 256,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._node = node
        self._maxlen = str(replay_messages)  # script arguments go as strings
        self._expire_ms = str(int(replay_seconds * 1000))
        self._max_pending = max_pending
        self._batch = batch
        self._epoch = ""
        self._sink: FrameSink | None = None
        self._pending: deque[tuple[str, str]] = deque()  # (agent, frame with seq 0)
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
        ]
        await ready

    async def close(self) -> None:
        """Send what is pending (briefly), then stop."""
        for _ in range(20):
            if not self._pending:
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
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
            try:
                await self._send(batch)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                log.warning("broker: cannot publish %d frames (%s); retrying", len(batch), exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            for _ in batch:
                self._pending.popleft()
            self.published += len(batch)

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        """One round trip for the whole batch (a frame's script, or a control message)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent, payload in batch:
                if agent.startswith(_CONTROL):
                    pipe.publish(agent[len(_CONTROL) :], payload)
                    continue
                pipe.eval(
                    _PUBLISH,
                    2,
                    self._keys.seq(agent),
                    self._keys.replay(agent),
                    agent,
                    payload,
                    self._maxlen,
                    self._expire_ms,
                    self._keys.frames,
                )
            await pipe.execute()

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
                await pubsub.subscribe(self._keys.frames, self._keys.live, self._keys.control)
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
        """After a lost subscription: same epoch? then fetch what connected agents missed."""
        sink = self._sink
        assert sink is not None
        epoch = await self._agreed_epoch()
        if epoch != self._epoch:
            self._epoch = epoch
            sink.restart_epoch(epoch)
            return
        for agent in sink.agents_here():
            frames = await self.missed(agent, sink.position(agent))
            for seq, frame in frames or ():
                sink.deliver(agent, seq, frame)

    def _receive(self, channel: str, data: str) -> None:
        sink = self._sink
        assert sink is not None
        if channel == self._keys.frames:
            seq, agent, frame = data.split("\n", 2)
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
