"""A live AMI connection to one Asterisk server; the only module that imports panoramisk.

panoramisk's ``AMIProtocol`` stays the asyncio protocol, but what made panoramisk unsafe for
call control is replaced:

* reads go through the sans-IO :class:`AmiFramer` (panoramisk decodes each read with
  ``errors='ignore'`` and so loses a UTF-8 character split across two reads);
* frames go synchronously to the sink and to the waiting actions; the read path never awaits
  (Asterisk drops an AMI client whose socket stops draining);
* an action in flight when the connection drops fails with :class:`AmiConnectionLost` and is
  never sent again (panoramisk queues it in ``awaiting_actions`` and re-sends it on
  ``FullyBooted``: a second real call for an ``Originate``), and no future is left pending
  (panoramisk forgets the ``Ping``/``Login`` ones);
* one owned task reconnects forever with capped, jittered exponential backoff (instead of
  ``loop.call_later`` chains), which a link that logged in and resynced resets, and an
  unanswered ``Ping`` drops a half-open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from cti.errors import AmiActionFailed, AmiConnectionLost, AmiError, ValidationFailed
from pbx_adapters.asterisk.action import action_name, encode_action, headers_of
from pbx_adapters.asterisk.frame import AmiFrame, FrameSink
from pbx_adapters.asterisk.lifecycle import (
    AmiConnectionStats,
    AmiSettings,
    State,
    backoff_delay,
    check_transition,
)
from pbx_adapters.asterisk.link import ActionResult, AmiLink, Pending
from pbx_adapters.asterisk.tls import tls_failure

__all__ = [
    "ActionResult",
    "AmiConnection",
    "AmiConnectionStats",
    "AmiSettings",
    "ConnectedHook",
    "DisconnectedHook",
    "FrameSink",
    "LoginHook",
    "State",
    "backoff_delay",
]

log = logging.getLogger(__name__)

ConnectedHook = Callable[["AmiConnection"], None]
DisconnectedHook = Callable[["AmiConnection", AmiError], None]
LoginHook = Callable[["AmiConnection"], Awaitable[None]]
_READ_SLICE_BYTES = 8 * 1024


class _AmiStreamProtocol(AMIProtocol):  # type: ignore[misc]  # panoramisk has no type hints
    """panoramisk's AMI protocol with its read path replaced by :class:`AmiFramer`."""

    def __init__(self, connection: AmiConnection, link: AmiLink) -> None:
        super().__init__()
        self._connection = connection
        self._link = link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.Transport)
        self._link.transport = transport

    def data_received(self, data: bytes) -> None:
        self._connection._on_data(self._link, data)

    def eof_received(self) -> bool:
        return False  # close our side too: AMI has no half-closed use

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connection._on_lost(self._link, exc)


class AmiConnection:
    """Keep one named Asterisk server connected, logged in and feeding ``on_frame``.

    ``on_frame(frame, received_at)`` gets every event not claimed by a pending action, in wire
    order, synchronously from the read path: it must not block. ``tap`` (a recorder) sees every
    frame, responses included. ``on_connected(conn)`` runs once TCP is up, ``on_login(conn)``
    is awaited after each accepted ``Login`` (resync there: actions may be sent), and
    ``on_disconnected(conn, error)`` runs once a connected link is gone.
    """

    def __init__(
        self,
        name: str,
        settings: AmiSettings,
        on_frame: FrameSink,
        *,
        on_connected: ConnectedHook | None = None,
        on_login: LoginHook | None = None,
        on_disconnected: DisconnectedHook | None = None,
        tap: FrameSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.settings = settings
        self.stats = AmiConnectionStats()
        self._sink = on_frame
        self._tap = tap
        self._on_connected = on_connected
        self._on_login = on_login
        self._on_disconnected = on_disconnected
        self._clock = clock
        self._sleep = sleep  # used for backoff waits only, so tests can watch them
        self._rand = rand
        self._state = State.IDLE
        self._link: AmiLink | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"cti-{uuid.uuid4().hex[:12]}"

    def __repr__(self) -> str:
        where = f"{self.settings.host}:{self.settings.port}"
        return f"<AmiConnection {self.name} {where} {self._state.value}>"

    @property
    def state(self) -> State:
        """Return where the connection is in its life."""
        return self._state

    @property
    def ready(self) -> bool:
        """Return True while logged in (actions may be sent)."""
        return self._state is State.READY

    @property
    def version(self) -> str | None:
        """Return the AMI protocol version from the banner of the current connection."""
        return self._link.framer.version if self._link is not None else None

    async def start(self) -> None:
        """Start connecting in an owned background task; return at once."""
        if self._task is not None or self._state is State.CLOSED:
            raise RuntimeError(f"AMI connection {self.name} was already started")
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"ami-{self.name}"
        )

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until logged in; raise ``AmiError`` if that takes longer than ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        except TimeoutError as exc:
            raise AmiError(
                f"AMI {self.name} not logged in after {timeout_s}s",
                details={"server": self.name, "last_error": self.stats.last_error},
            ) from exc

    async def close(self) -> None:
        """Log off, stop reconnecting and fail whatever is still in flight."""
        if self._state is State.CLOSED:
            return
        link = self._link
        if link is not None and self._state is State.READY:
            with contextlib.suppress(AmiError):
                await self._request(link, [("Action", "Logoff")], timeout_s=1.0)
        self._set_state(State.CLOSED)
        task, self._task = self._task, None
        if task is asyncio.current_task():  # closed from a hook: the task ends at its next await
            assert task is not None
            task.cancel()
            return
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                log.error("ami[%s] supervisor failed", self.name, exc_info=task.exception())

    async def __aenter__(self) -> AmiConnection:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send_action(
        self,
        action: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        timeout_s: float | None = None,
    ) -> ActionResult:
        """Send one action and return its response, or every frame of a list response.

        Raises ``ValidationFailed`` (nothing sent) for an unsafe header, ``AmiError`` when not
        logged in (nothing sent) or on timeout (outcome unknown), ``AmiConnectionLost`` if the
        connection drops first (outcome unknown; never re-sent), ``AmiActionFailed`` for
        ``Response: Error``.
        """
        headers = headers_of(action)
        encode_action(headers)  # refuse injection before looking at the connection
        link = self._link
        if link is None or self._state is not State.READY or not link.usable:
            raise AmiError(
                f"AMI {self.name} is not connected; {action_name(headers)} was not sent",
                details={"server": self.name, "state": self._state.value},
            )
        timeout = self.settings.action_timeout_s if timeout_s is None else timeout_s
        return await self._request(link, headers, timeout_s=timeout)

    # -- sending ---------------------------------------------------------------------------

    def _submit(self, link: AmiLink, headers: list[tuple[str, str]]) -> tuple[str, Pending]:
        """Register and write one action; validation happens before anything is written."""
        ids = [value for key, value in headers if key.lower() == "actionid"]
        if len(ids) > 1:
            raise ValidationFailed("an AMI action carries at most one ActionID")
        action_id = ids[0] if ids else f"{self._id_prefix}-{next(self._ids)}"
        wire_headers = headers if ids else [*headers, ("ActionID", action_id)]
        payload = encode_action(wire_headers)
        name = action_name(wire_headers)
        if action_id in link.pending:
            raise ValidationFailed(
                "this ActionID is already waiting for an answer", details={"action_id": action_id}
            )
        if not link.usable:
            raise AmiError(
                f"AMI {self.name} connection is gone; {name} was not sent",
                details={"server": self.name, "action": name},
            )
        pending = link.send(action_id, name, payload)
        self.stats.actions_sent += 1
        log.debug("ami[%s] sent %s %s", self.name, name, action_id)
        return action_id, pending

    async def _request(
        self, link: AmiLink, headers: list[tuple[str, str]], *, timeout_s: float
    ) -> ActionResult:
        action_id, pending = self._submit(link, headers)
        try:
            async with asyncio.timeout(timeout_s):
                return await pending.future
        except TimeoutError as exc:
            raise AmiError(
                f"no answer from AMI {self.name} to {pending.action} within {timeout_s}s; "
                "its outcome is unknown",
                details={"server": self.name, "action": pending.action, "action_id": action_id},
            ) from exc
        finally:
            link.forget(action_id)

    # -- reading (called by the protocol; never awaits) --------------------------------------

    def _on_data(self, link: AmiLink, data: bytes) -> None:
        if link.lost.done():
            return  # a dropped link's last bytes: its actions already failed
        received_at = self._clock()
        if len(data) <= _READ_SLICE_BYTES or link.transport is None:
            self._feed(link, data, received_at)
            return
        # asyncio reads up to 256 KiB at once when the loop fell behind: hundreds of events,
        # tens of ms of work. Handled in one callback, it would hold every pop and websocket
        # write it queued until its end. So a big read is framed and delivered a slice per
        # callback, with reading paused until the last slice, which keeps the wire order.
        link.transport.pause_reading()
        self._feed_from(link, data, 0, received_at)

    def _feed_from(self, link: AmiLink, data: bytes, start: int, received_at: float) -> None:
        if link.lost.done() or link.transport is None:
            return
        end = start + _READ_SLICE_BYTES
        self._feed(link, data[start:end], received_at)
        if end < len(data):
            asyncio.get_running_loop().call_soon(self._feed_from, link, data, end, received_at)
        else:
            link.transport.resume_reading()

    def _feed(self, link: AmiLink, data: bytes, received_at: float) -> None:
        for start in range(0, len(data), _READ_SLICE_BYTES):
            frames = link.framer.feed(data[start : start + _READ_SLICE_BYTES])
            if frames:
                self._deliver(link, frames, received_at)

    def _deliver(self, link: AmiLink, frames: list[AmiFrame], received_at: float) -> None:
        tap, sink, stats = self._tap, self._sink, self.stats
        for frame in frames:
            if tap is not None:
                self._call_sink(tap, frame, received_at)
            if link.pending and link.route(frame):
                continue
            if frame.is_event:
                stats.events += 1
                self._call_sink(sink, frame, received_at)
            else:
                stats.stray_responses += 1
                log.debug("ami[%s] stray response %r", self.name, frame.action_id)

    def _call_sink(self, sink: FrameSink, frame: AmiFrame, received_at: float) -> None:
        try:
            sink(frame, received_at)
        except Exception:
            self.stats.sink_errors += 1
            log.exception("ami[%s] frame sink failed on %s", self.name, frame.name)

    def _on_lost(self, link: AmiLink, exc: Exception | None) -> None:
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "closed by the server"
        error = AmiConnectionLost(
            f"AMI connection to {self.name} lost ({reason})",
            details={"server": self.name, "reason": reason},
        )
        error.__cause__ = exc
        link.drop(error)

    # -- supervision ------------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        check_transition(self._state, state)
        self._state = state

    def _note_error(self, error: BaseException) -> None:
        self.stats.last_error = f"{type(error).__name__}: {error}"
        log.warning("ami[%s] %s", self.name, error)

    async def _supervise(self) -> None:
        """Connect, serve, back off, forever (until :meth:`close` cancels this task)."""
        attempt = 0
        while True:
            try:
                ready_at, resynced = await self._run_link()
            except Exception as exc:  # a bug must not stop reconnecting
                log.exception("ami[%s] link failed unexpectedly", self.name)
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                ready_at, resynced = None, False
            if self._state is State.CLOSED:
                return
            # A link that logged in and resynced proves the server up: its loss is a new
            # failure, retried after the base delay. Growing the delay across such links left
            # AMI dark for up to the cap (15 s) after a few network blips, and calls that began
            # and ended in the dark were never recorded (fault drill 1, cti drill ami-cuts).
            stable = (
                ready_at is not None and self._clock() - ready_at >= self.settings.stable_after_s
            )
            if resynced or stable:
                attempt = 0
            delay = backoff_delay(
                attempt, self.settings.backoff_base_s, self.settings.backoff_cap_s, self._rand
            )
            attempt += 1
            self.stats.last_backoff_s = delay
            self._set_state(State.BACKING_OFF)
            log.info("ami[%s] reconnecting in %.2fs", self.name, delay)
            await self._sleep(delay)

    async def _run_link(self) -> tuple[float | None, bool]:
        """Run one TCP connection to its end; return when it was logged in, if it was, and
        whether its resync (the login hook) finished."""
        self._set_state(State.CONNECTING)
        link = AmiLink(self.name, self.stats.framer)
        try:
            await self._open(link)
        except AmiError as exc:
            self.stats.connect_failures += 1
            self._note_error(exc)
            return None, False
        self._link = link
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self._call_hook(self._on_connected)
        ready_at: float | None = None
        try:
            self._set_state(State.LOGGING_IN)
            await self._login(link)
            self._set_state(State.READY)
            ready_at = self._clock()
            self._ready.set()
            await self._serve(link)
        except AmiError as exc:
            self._note_error(exc)
        finally:
            self._ready.clear()
            self._link = None
            link.drop(AmiConnectionLost(f"AMI connection to {self.name} closed"))
            self.stats.disconnects += 1
            self._call_hook(self._on_disconnected, link.lost.result())
        return ready_at, link.resynced

    async def _open(self, link: AmiLink) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                await loop.create_connection(
                    lambda: _AmiStreamProtocol(self, link),
                    settings.host,
                    settings.port,
                    ssl=settings.tls,
                )
        except OSError as exc:  # TimeoutError and ssl.SSLError are OSErrors too
            why = tls_failure(exc) or f"{type(exc).__name__} {exc}"
            raise AmiError(
                f"cannot connect to AMI {self.name} at {settings.host}:{settings.port}: {why}",
                details={"server": self.name, "host": settings.host, "port": settings.port},
            ) from exc

    async def _login(self, link: AmiLink) -> None:
        settings = self.settings
        headers = [
            ("Action", "Login"),
            ("Username", settings.username),
            ("Secret", settings.secret),
            ("Events", settings.events),
        ]
        try:
            await self._request(link, headers, timeout_s=settings.action_timeout_s)
        except AmiActionFailed as exc:
            raise AmiActionFailed(
                f"AMI {self.name} refused the login of {settings.username!r}: {exc.message}",
                details={"server": self.name, "username": settings.username},
            ) from exc

    async def _serve(self, link: AmiLink) -> None:
        """Resync through ``on_login``, then keep the link alive until it drops."""
        keepalive = asyncio.get_running_loop().create_task(
            self._keepalive(link), name=f"ami-{self.name}-keepalive"
        )
        try:
            if self._on_login is not None:
                try:
                    await self._on_login(self)
                except AmiError:
                    raise
                except Exception as exc:
                    log.exception("ami[%s] on_login hook failed", self.name)
                    raise AmiError(
                        f"resync after login to AMI {self.name} failed: {exc}",
                        details={"server": self.name},
                    ) from exc
            link.resynced = True
            # Shielded: cancelling this task (close) must not cancel the link's own end.
            self._note_error(await asyncio.shield(link.lost))
        finally:
            keepalive.cancel()
            await asyncio.wait([keepalive])

    async def _keepalive(self, link: AmiLink) -> None:
        """Ping every interval; drop the link when a Ping goes unanswered (half-open TCP)."""
        settings = self.settings
        while link.usable:
            await asyncio.sleep(settings.ping_interval_s)
            try:
                action_id, pending = self._submit(link, [("Action", "Ping")])
            except AmiError:
                return
            try:
                async with asyncio.timeout(settings.ping_timeout_s):
                    await pending.future
            except AmiActionFailed:
                continue  # any answer proves the link alive
            except AmiConnectionLost:
                return
            except TimeoutError:
                self.stats.pings_missed += 1
                link.drop(
                    AmiConnectionLost(
                        f"AMI {self.name} did not answer Ping within {settings.ping_timeout_s}s",
                        details={"server": self.name, "reason": "ping timeout"},
                    ),
                )
                return
            finally:
                link.forget(action_id)

    def _call_hook(self, hook: Callable[..., object] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(self, *args)
        except Exception:
            log.exception("ami[%s] hook %r failed", self.name, hook)


def stock_panoramisk_reader(on_event: Callable[[object], None]) -> Callable[[bytes], None]:
    """Return a feed for stock panoramisk: ``AMIProtocol`` into a ``Manager`` with a '*' handler.

    The benchmark baseline (``cti bench ingest``): what a plain panoramisk client spends reading
    the same bytes. ``on_event`` gets each panoramisk ``Message``; nothing else uses this.
    """
    from panoramisk.manager import Manager  # noqa: PLC0415 (only benchmarks need it)

    manager = Manager()
    manager.register_event("*", lambda _manager, message: on_event(message))
    protocol = AMIProtocol()
    protocol.connection_made(None)
    protocol.factory = manager
    protocol.encoding = "utf8"
    feed: Callable[[bytes], None] = protocol.data_received
    return feed
