"""The floor of pop vs ring: the lab's own AMI relayed to a bare websocket, no product code.

``python -m sip_tests.bench.ring_floor CONFIG`` is :class:`sip_tests.bench.floor.Floor`
(python-websockets with the daemon's permessage-deflate settings, a pop-sized frame sent from
the AMI read callback) logged in to the lab Asterisk with its AMI user, and sending on each
``DialBegin`` towards a lab phone ``PJSIP/10NN`` to agent ``NN - 1`` (the benchmark's agent of
that phone). CONFIG adds ``username`` and ``secret`` to the floor's keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from sip_tests.bench.floor import Floor

__all__ = ["RingFloor", "main"]


class RingFloor(Floor):
    def on_event(self, raw: bytes) -> None:
        if not raw.startswith(b"Event: DialBegin"):
            return
        text = raw.decode(errors="replace")
        dest = text.split("\r\nDestChannel: ", 1)[1].split("\r\n", 1)[0]
        linked = text.split("\r\nLinkedid: ", 1)[1].split("\r\n", 1)[0]
        name = dest.split("/", 1)[-1].rsplit("-", 1)[0]
        if not (name.isdigit() and 1001 <= int(name) <= 1099):
            return
        ws = self.sockets.get(int(name) - 1001)
        if ws is not None:
            self.sent += 1
            asyncio.get_running_loop().create_task(ws.send(f"{self.head}lab:{linked}{self.tail}"))

    async def ami(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(self.cfg["ami_port"]))
        await reader.readline()
        login = (
            f"Action: Login\r\nUsername: {self.cfg['username']}\r\n"
            f"Secret: {self.cfg['secret']}\r\nActionID: 1\r\n\r\n"
        )
        writer.write(login.encode())
        buffer = b""
        while data := await reader.read(65536):
            buffer += data
            *messages, buffer = buffer.split(b"\r\n\r\n")
            for raw in messages:
                self.on_event(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description="bare websocket floor for pop vs ring")
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    asyncio.run(RingFloor(json.loads(args.config.read_text())).run())


if __name__ == "__main__":
    main()
