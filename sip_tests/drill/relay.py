"""A loopback TCP relay that a drill can break the way networks break.

Put it between a client and a server (``TcpRelay(server_port)``, then point the client at
``relay.port``) and it forwards bytes both ways until told otherwise:

* :meth:`TcpRelay.blackhole`: packets vanish. Open connections stay open on both ends but
  nothing more crosses (the relay stops reading, so the senders' kernel buffers fill as they
  would behind a dead link); new connections are accepted and never reach the server, so a
  client's handshake hangs until its own timeout. Neither end sees a FIN or a reset.
* :meth:`TcpRelay.heal`: the link is back. Connections that lived through the black hole are
  reset (their two ends no longer agree on anything, as after a real outage); new ones flow.
* :meth:`TcpRelay.cut`: every connection is reset at once (RST both ways), as a failing
  switch or a killed NAT entry does.
* :meth:`TcpRelay.down`: the server is gone: open connections are reset, and so is every
  new one, at once, until :meth:`TcpRelay.heal`.

Everything runs on the caller's event loop: never block that loop while the relay is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["TcpRelay"]

_CHUNK = 65536
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s


@dataclass(eq=False, slots=True)
class _Link:
    """One relayed connection: the client's side, the server's side once dialled, the gate."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    doomed: bool = False  # lived through a black hole: reset on heal

    def abort(self) -> None:
        """Reset both sides: SO_LINGER 0 makes close() send RST, not FIN."""
        for writer in (self.client, self.server):
            if writer is not None and not writer.transport.is_closing():
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                writer.transport.abort()


class TcpRelay:
    """Forward 127.0.0.1:``port`` to ``target_host``:``target_port``, breakable on demand."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0  # accepted so far
        self.blackholed = False
        self.refusing = False
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        """Listen on loopback ``port`` (0: an ephemeral one); return the port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def blackhole(self) -> None:
        """Stop every byte from crossing, without closing anything."""
        self.blackholed = True
        for link in self._links:
            link.flowing.clear()
            link.doomed = True

    def down(self) -> None:
        """Reset every open connection, and each new one as it comes, until :meth:`heal`."""
        self.refusing = True
        self.cut()

    def heal(self) -> None:
        """Let new connections through again; reset the ones the black hole swallowed."""
        self.blackholed = self.refusing = False
        for link in [link for link in self._links if link.doomed]:
            self._links.discard(link)
            link.abort()
            link.flowing.set()  # wake its pumps: they see ``doomed`` and return

    def cut(self) -> None:
        """Reset every open connection now (the listener stays up)."""
        links, self._links = self._links, set()
        for link in links:
            link.doomed = True
            link.abort()
            link.flowing.set()

    async def close(self) -> None:
        """Reset everything, stop listening and wait for the relay's own tasks."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(writer, doomed=self.blackholed)
        if self.refusing:
            link.abort()
            return
        self._links.add(link)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if link.doomed:  # a SYN into the black hole: the server never hears of it
                await link.flowing.wait()  # until heal() aborts it (or close() cancels)
                return
            link.flowing.set()
            up_reader, link.server = await asyncio.open_connection(*self.target)
            await asyncio.gather(
                self._pump(link, reader, link.server), self._pump(link, up_reader, writer)
            )
        except OSError:
            link.abort()
        finally:
            self._links.discard(link)
            for side in (link.client, link.server):
                if side is not None:
                    side.close()
            if task is not None:
                self._tasks.discard(task)

    @staticmethod
    async def _pump(link: _Link, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                await link.flowing.wait()  # a black hole: hold this chunk, read no more
                if link.doomed:
                    return
                sink.write(data)
                await sink.drain()
            if not link.doomed and sink.can_write_eof():
                sink.write_eof()  # a clean FIN crosses as a FIN
        except ConnectionError:
            link.abort()  # a reset on one side resets the other, as it would end to end
