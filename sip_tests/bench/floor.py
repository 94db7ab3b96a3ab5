"""The floor of pop latency: the same AMI stream, the same frame size, a bare websocket.

``python -m sip_tests.bench.floor CONFIG`` logs in to the AMI replayer like the daemon does, and on
each ``AgentCalled``/``DialBegin`` sends a pop-sized text frame naming the call to the rung
agent's websocket, straight from the read callback: no normalizer, tracker, CRM, template or
hub. Websockets are python-websockets with the daemon's permessage-deflate settings, so what is
left between the two runs is the product's own work.
"""

# ruff: noqa: ASYNC110, ASYNC240 (a benchmark process polls small control files)
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

__all__ = ["main"]

_FILLER = (
    '<section class=\\"pop\\"><h2>Caller</h2><dl><dt>Account</dt><dd>Bulk Account</dd>'
    '<dt>Phone</dt><dd><a data-number=\\"+442030000001\\">+44 20 3000 0001</a></dd></dl>'
)


class Floor:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.sockets: dict[int, ServerConnection] = {}
        self.sent = 0
        size = int(cfg.get("frame_bytes", 6000))
        self.head = '{"type":"pop","seq":1,"data":{"call_id":"'
        body = (_FILLER * (size // len(_FILLER) + 1))[: max(0, size - 80)]
        self.tail = f'","html":"{body}"}}}}'

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        agent = int(path.rsplit("agent=", 1)[1]) if "agent=" in path else -1
        self.sockets[agent] = ws
        try:
            await ws.wait_closed()
        finally:
            self.sockets.pop(agent, None)

    def on_event(self, raw: bytes) -> None:
        if not (raw.startswith(b"Event: AgentCalled") or raw.startswith(b"Event: DialBegin")):
            return
        text = raw.decode()
        dest = text.split("\r\nDestChannel: ", 1)[1].split("\r\n", 1)[0]
        linked = text.split("\r\nLinkedid: ", 1)[1].split("\r\n", 1)[0]
        name = dest.split("/", 1)[1].rsplit("-", 1)[0]
        if not name.startswith("b"):
            return
        ws = self.sockets.get(int(name[1:]))
        if ws is not None:
            self.sent += 1
            asyncio.get_running_loop().create_task(ws.send(f"{self.head}bench:{linked}{self.tail}"))

    async def ami(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(self.cfg["ami_port"]))
        await reader.readline()
        writer.write(b"Action: Login\r\nUsername: cti\r\nSecret: bench\r\nActionID: 1\r\n\r\n")
        buffer = b""
        while data := await reader.read(65536):
            buffer += data
            *messages, buffer = buffer.split(b"\r\n\r\n")
            for raw in messages:
                self.on_event(raw)

    async def run(self) -> None:
        deflate = ServerPerMessageDeflateFactory(
            server_max_window_bits=12,
            client_max_window_bits=12,
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            compress_settings={"memLevel": 5},
        )
        async with serve(
            self.handler,
            "127.0.0.1",
            int(self.cfg["ws_port"]),
            extensions=[deflate],
            compression=None,
            ping_interval=None,
        ):
            Path(self.cfg["ready_file"]).write_text("ready")
            task = asyncio.create_task(self.ami())
            stop = Path(self.cfg["stop_file"])
            deadline = time.monotonic() + float(self.cfg.get("lifetime_s", 600))
            while not stop.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="bare websocket floor for pop latency")
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    asyncio.run(Floor(json.loads(args.config.read_text())).run())


if __name__ == "__main__":
    main()
