"""A TCP relay between the daemon and Asterisk's AMI that a test or drill cuts at will.

The daemon is pointed at the relay's port instead of Asterisk's; :meth:`AmiCutter.cut` aborts
every relayed connection as a network failure would (no FIN, no Logoff), and the daemon
reconnects through the relay. The relay forwards bytes untouched, but watches them go by to
tell when each session logged in and when its resync listing (``CoreShowChannels``) finished,
and which actions the daemon sent, so a drill can prove what was, and was never, re-sent.

:meth:`AmiCutter.cut_on_reply` cuts at the worst moment for an action: after Asterisk received
it and answered, before the answer reaches the daemon (its outcome is unknown to the daemon);
:meth:`AmiCutter.cut_on_send` cuts as the daemon sends it, so Asterisk never gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

__all__ = ["AmiCutter", "RelayedSession"]

_ACTION = re.compile(rb"(?im)^Action: *(\w+)\r\n(?:[^\r\n]+\r\n)*?ActionID: *([^\r\n]+)\r\n")
_LOGGED_IN = re.compile(rb"Message: Authentication accepted\r\n")
_LISTED = re.compile(rb"Event: CoreShowChannelsComplete\r\n")
_TAIL = 4096  # bytes kept between reads, so a frame split across two reads is still seen


@dataclass(slots=True)
class RelayedSession:
    """One connection the daemon made through the relay, with the moments seen on it."""

    opened_at: float  # time.monotonic() of each moment
    logged_in_at: float | None = None
    listed_at: float | None = None  # its resync listing passed through to the daemon
    cut_at: float | None = None
    actions: list[str] = field(default_factory=list)  # names, in the order the daemon sent them


@dataclass(slots=True)
class _Armed:
    action: str
    seen: asyncio.Future[str]
    before_asterisk: bool  # cut before Asterisk gets the action, not after it answered
    action_id: str | None = None

    def fire(self) -> None:
        if not self.seen.done():
            self.seen.set_result(self.action_id or "")


class _Watch:
    """Find patterns in a byte stream read in pieces; report each occurrence once."""

    def __init__(self) -> None:
        self._tail = b""
        self._window = b""
        self._fresh = 0

    def feed(self, data: bytes) -> None:
        """Take the next read; :meth:`find` then looks at it and the end of the previous ones."""
        self._window = self._tail + data
        self._fresh = len(self._tail)
        self._tail = self._window[-_TAIL:]

    def find(self, pattern: re.Pattern[bytes]) -> list[re.Match[bytes]]:
        """The occurrences of ``pattern`` that end in the latest read."""
        return [m for m in pattern.finditer(self._window) if m.end() > self._fresh]

    def has(self, needle: bytes) -> bool:
        """Whether ``needle`` ends in the latest read."""
        at = self._window.rfind(needle)
        return at >= 0 and at + len(needle) > self._fresh


class AmiCutter:
    """Relay AMI between ``127.0.0.1:<start()>`` and Asterisk on ``target_port``; cut on demand."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.connections = 0
        self.sessions: list[RelayedSession] = []
        self._armed: _Armed | None = None
        self._changed = asyncio.Event()
        self._handlers: set[asyncio.Task[object]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        this = asyncio.current_task()
        if this is not None:  # close() waits for it: no socket outlives the relay
            self._handlers.add(this)
            this.add_done_callback(self._handlers.discard)
        self.connections += 1
        session = RelayedSession(opened_at=time.monotonic())
        self.sessions.append(session)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:  # Asterisk is down (restarting): the daemon sees a closed connection
            writer.transport.abort()
            return
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            watch = _Watch()
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if not (self._upstream if up else self._downstream)(session, watch, data):
                        self.cut()
                        break
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def _upstream(self, session: RelayedSession, watch: _Watch, data: bytes) -> bool:
        """Note the actions the daemon sends; return whether to forward ``data``."""
        watch.feed(data)
        for match in watch.find(_ACTION):
            name = match.group(1).decode()
            session.actions.append(name)
            armed = self._armed
            if armed is not None and armed.action_id is None and name == armed.action:
                armed.action_id = match.group(2).decode().strip()
                if armed.before_asterisk:
                    self._armed = None
                    armed.fire()
                    return False
        return True

    def _downstream(self, session: RelayedSession, watch: _Watch, data: bytes) -> bool:
        """Note logins and listings; return False to cut instead of forwarding ``data``."""
        watch.feed(data)
        logins, listings = watch.find(_LOGGED_IN), watch.find(_LISTED)
        now = time.monotonic()
        if logins and session.logged_in_at is None:
            session.logged_in_at = now
        if listings and session.listed_at is None:
            session.listed_at = now
        if logins or listings:
            self._changed.set()
        armed = self._armed
        if armed is None or armed.action_id is None:
            return True
        if not watch.has(f"ActionID: {armed.action_id}\r\n".encode()):
            return True
        self._armed = None
        armed.fire()
        return False

    def cut_on_reply(self, action: str) -> asyncio.Future[str]:
        """Cut when Asterisk answers the next ``action`` the daemon sends, before the daemon
        reads the answer; the future gives that action's ActionID once it happened."""
        return self._arm(action, before_asterisk=False)

    def cut_on_send(self, action: str) -> asyncio.Future[str]:
        """Cut when the daemon sends the next ``action``, which Asterisk then never gets."""
        return self._arm(action, before_asterisk=True)

    def _arm(self, action: str, *, before_asterisk: bool) -> asyncio.Future[str]:
        seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._armed = _Armed(action, seen, before_asterisk)
        return seen

    def cut(self) -> None:
        """Abort every relayed connection, as a network failure would."""
        now = time.monotonic()
        for session in self.sessions:
            if session.cut_at is None:
                session.cut_at = now
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def actions(self, name: str) -> int:
        """How many ``name`` actions the daemon sent, over every session."""
        return sum(s.actions.count(name) for s in self.sessions)

    async def wait_listed(self, timeout_s: float) -> RelayedSession:
        """Wait until the newest session has logged in and its resync listing went through."""
        async with asyncio.timeout(timeout_s):
            while True:
                newest = self.sessions[-1] if self.sessions else None
                if newest is not None and newest.listed_at and newest.cut_at is None:
                    return newest
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        """Cut every connection, stop listening, and wait until each relayed socket is closed."""
        self.cut()
        if self.server is not None:
            self.server.close()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        if self.server is not None:
            await self.server.wait_closed()
