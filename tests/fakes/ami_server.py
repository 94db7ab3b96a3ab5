"""A fake Asterisk AMI server on a real TCP socket (127.0.0.1, ephemeral port) for tests.

Also :class:`RecordingSink`, an ``on_frame`` sink that keeps what a connection delivered.

It behaves like Asterisk's manager where the adapter cares: banner first, ``Login`` checked
(a bad secret gets ``Response: Error`` and the socket closed), ``Ping``/``Logoff`` answered,
every other action answered from a table a test scripts with :meth:`FakeAmiServer.on`
(``None`` holds the action unanswered). A test can also push raw bytes cut at chosen offsets,
abort the connection, and read back every action received, per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pbx_adapters.asterisk.frame import AmiFrame

__all__ = [
    "FakeAmiServer",
    "Frame",
    "ReceivedAction",
    "RecordingSink",
    "encode",
    "error",
    "event",
    "listing",
    "success",
]

Frame = list[tuple[str, str]]


@dataclass(frozen=True)
class ReceivedAction:
    """One action as the server read it."""

    connection: int  # 1 for the first TCP connection, 2 after the first reconnect, ...
    headers: tuple[tuple[str, str], ...]
    raw: bytes

    def get(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == key.lower()), default)

    @property
    def name(self) -> str:
        return self.get("Action")

    @property
    def action_id(self) -> str:
        return self.get("ActionID")


Handler = Callable[[ReceivedAction], Sequence[Frame] | None]


def success(**headers: str) -> Frame:
    return [("Response", "Success"), *headers.items()]


def error(message: str) -> Frame:
    return [("Response", "Error"), ("Message", message)]


def event(name: str, *pairs: tuple[str, str], **headers: str) -> Frame:
    return [("Event", name), *pairs, *headers.items()]


def listing(items: Iterable[Frame], complete: str, message: str = "will follow") -> list[Frame]:
    """Return a list response: ack, item events, then the ``...Complete`` event."""
    frames = [success(EventList="start", Message=message), *items]
    count = len(frames) - 1
    frames.append(event(complete, EventList="Complete", ListItems=str(count)))
    return frames


def encode(frame: Frame) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in frame).encode() + b"\r\n"


@dataclass
class _Client:
    number: int
    writer: asyncio.StreamWriter
    logged_in: bool = False


@dataclass
class FakeAmiServer:
    username: str = "cti"
    secret: str = "s3cret"
    version: str = "9.0.0"
    received: list[ReceivedAction] = field(default_factory=list)
    connections: int = 0
    logins: int = 0

    def __post_init__(self) -> None:
        self._handlers: dict[str, Handler | None] = {
            "ping": lambda _: [success(Ping="Pong", Timestamp="1700000000.000000")],
        }
        self._server: asyncio.Server | None = None
        self._clients: dict[int, _Client] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers = itertools.count(1)
        self._changed = asyncio.Condition()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self._clients.values()):
            client.writer.transport.abort()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeAmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- scripting ---------------------------------------------------------------------------

    def on(self, action: str, answer: Handler | Sequence[Frame] | None) -> None:
        """Answer ``action`` with frames (ActionID added), a handler's frames, or not at all."""
        if answer is None or callable(answer):
            self._handlers[action.lower()] = answer
        else:
            frames = list(answer)
            self._handlers[action.lower()] = lambda _: frames

    async def push(self, data: bytes, *, splits: Sequence[int] = (), pause_s: float = 0.02) -> None:
        """Write raw bytes to the newest connection, cut at ``splits`` into separate writes."""
        writer = self._newest().writer
        cuts = [0, *sorted(splits), len(data)]
        for start, end in itertools.pairwise(cuts):
            writer.write(data[start:end])
            await writer.drain()
            if end != len(data):
                await asyncio.sleep(pause_s)  # let the client read each piece on its own

    async def push_frame(self, frame: Frame) -> None:
        await self.push(encode(frame))

    def kill(self) -> None:
        """Abort the newest connection, as a crash or a cable pull would."""
        self._newest().writer.transport.abort()

    # -- observing ---------------------------------------------------------------------------

    def actions(self, name: str) -> list[ReceivedAction]:
        return [a for a in self.received if a.name.lower() == name.lower()]

    async def wait_for(
        self, name: str, count: int = 1, within_s: float = 5.0
    ) -> list[ReceivedAction]:
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: len(self.actions(name)) >= count)
        return self.actions(name)

    async def wait_connections(self, count: int, within_s: float = 5.0) -> None:
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: self.connections >= count)

    # -- serving -----------------------------------------------------------------------------

    def _newest(self) -> _Client:
        if not self._clients:
            raise AssertionError("no client is connected to the fake AMI server")
        return self._clients[max(self._clients)]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = _Client(next(self._numbers), writer)
        self._clients[client.number] = client
        self.connections += 1
        await self._notify()
        try:
            writer.write(f"Asterisk Call Manager/{self.version}\r\n".encode())
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                if not await self._handle(client, raw):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            del self._clients[client.number]
            writer.transport.abort()
            self._tasks.discard(task)

    async def _handle(self, client: _Client, raw: bytes) -> bool:
        """Record and answer one action; return False to close the connection."""
        lines = raw.decode().split("\r\n")
        headers = tuple(tuple(line.split(": ", 1)) for line in lines if ": " in line)
        action = ReceivedAction(client.number, headers, raw)  # type: ignore[arg-type]
        self.received.append(action)
        await self._notify()
        name = action.name.lower()
        if name == "login":
            return self._login(client, action)
        if not client.logged_in:
            self._answer(client, action, [error("Permission denied")])
            return True
        if name == "logoff":
            self._answer(client, action, [[("Response", "Goodbye"), ("Message", "Bye")]])
            return False
        handler = self._handlers.get(name, lambda _: [error("Invalid/unknown command")])
        if handler is not None:
            self._answer(client, action, handler(action) or [])
        return True

    def _login(self, client: _Client, action: ReceivedAction) -> bool:
        if action.get("Username") != self.username or action.get("Secret") != self.secret:
            self._answer(client, action, [error("Authentication failed")])
            return False
        client.logged_in = True
        self.logins += 1
        self._answer(client, action, [success(Message="Authentication accepted")])
        client.writer.write(encode(event("FullyBooted", Status="Fully Booted")))
        return True

    def _answer(self, client: _Client, action: ReceivedAction, frames: Sequence[Frame]) -> None:
        for frame in frames:
            out = frame
            if action.action_id and not any(k.lower() == "actionid" for k, _ in frame):
                out = [frame[0], ("ActionID", action.action_id), *frame[1:]]
            with contextlib.suppress(ConnectionError):
                client.writer.write(encode(out))


class RecordingSink:
    """An ``on_frame`` sink that keeps every frame and lets a test wait for one."""

    def __init__(self) -> None:
        self.frames: list[AmiFrame] = []
        self.times: list[float] = []
        self._arrived = asyncio.Event()

    def __call__(self, frame: AmiFrame, received_at: float) -> None:
        self.frames.append(frame)
        self.times.append(received_at)
        self._arrived.set()

    def named(self, name: str) -> list[AmiFrame]:
        return [frame for frame in self.frames if frame.name == name]

    async def wait_for(self, name: str, count: int = 1, within_s: float = 5.0) -> list[AmiFrame]:
        async with asyncio.timeout(within_s):
            while len(self.named(name)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.named(name)
