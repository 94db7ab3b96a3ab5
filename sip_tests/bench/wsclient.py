"""Agent websocket clients in a process of their own: ``python -m sip_tests.bench.wsclient CONFIG``.

CONFIG (JSON) names the websocket URL, the Origin, and the connections to open, each as
``[agent index, session cookie or null]``. Each connection sends ``resume`` (a real agent
page's first message) and then reads; for every ``pop`` frame it keeps the monotonic time of
arrival, the agent, the call id and the frame's size, and it counts every frame by type. The
process writes ``ready_file`` once every connection is open and, when ``stop_file`` appears
(or ``lifetime_s`` ran out), writes its pops as JSON lines ``[t, agent, call id, chars,
pending]`` (pending: sent before the CRM lookup answered) to
``out_file``, the counts (``{type: [frames, chars]}``) to ``out_file`` + ``.types``, and
exits. CLOCK_MONOTONIC is shared by every process of the machine, so these times compare with
the AMI replayer's.
"""

# ruff: noqa: ASYNC110, ASYNC230, ASYNC240 (a benchmark process polls small control files)
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["main"]

_POP = '{"type":"pop",'
_CALL_ID = '"call_id":"'


async def _connect(cfg: dict[str, Any], agent: int, cookie: str | None) -> ClientConnection:
    headers = {"Origin": cfg["origin"]}
    url = cfg["url"]
    if cookie is not None:
        headers["Cookie"] = f"cti_session={cookie}"
    else:
        url = f"{url}?agent={agent}"
    for attempt in range(20):
        try:
            ws = await websockets.connect(
                url,
                additional_headers=headers,
                compression="deflate" if cfg.get("compression", True) else None,
                open_timeout=30,
                max_size=2**20,
                ping_interval=None,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake):
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if cookie is not None:
            await ws.send('{"type":"resume","data":{"last_seq":null}}')
        return ws
    raise RuntimeError(f"agent {agent}: could not connect to {url}")


# arrival (monotonic), agent, call id, frame chars, whether it went out before the CRM answered
_Record = tuple[float, int, str, int, bool]
_PENDING = '"lookup":"pending"'


async def _read(
    ws: ClientConnection, agent: int, records: list[_Record], types: dict[str, list[int]]
) -> None:
    clock = time.monotonic
    try:
        async for frame in ws:
            at = clock()
            if not isinstance(frame, str):
                continue
            if frame.startswith(_POP):
                start = frame.find(_CALL_ID) + len(_CALL_ID)
                call_id = frame[start : frame.index('"', start)]
                records.append((at, agent, call_id, len(frame), _PENDING in frame))
            # Every envelope starts {"type":"NAME", (agent_ui.protocol.encode, the floor).
            kind = frame[9 : frame.find('"', 9)]
            counts = types.setdefault(kind, [0, 0])
            counts[0] += 1
            counts[1] += len(frame)
    except websockets.ConnectionClosed:
        return


async def run(cfg: dict[str, Any]) -> None:
    records: list[_Record] = []
    types: dict[str, list[int]] = {}
    gate = asyncio.Semaphore(cfg.get("parallel_connects", 20))

    async def open_one(agent: int, cookie: str | None) -> ClientConnection:
        async with gate:
            return await _connect(cfg, agent, cookie)

    pairs = [(int(agent), cookie) for agent, cookie in cfg["connections"]]
    sockets = await asyncio.gather(*(open_one(agent, cookie) for agent, cookie in pairs))
    readers = [
        asyncio.create_task(_read(ws, agent, records, types))
        for ws, (agent, _) in zip(sockets, pairs, strict=True)
    ]
    Path(cfg["ready_file"]).write_text(str(len(sockets)))
    deadline = time.monotonic() + float(cfg.get("lifetime_s", 600))
    stop = Path(cfg["stop_file"])
    while not stop.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for task in readers:
        task.cancel()
    with Path(cfg["out_file"]).open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    Path(cfg["out_file"] + ".types").write_text(json.dumps(types))


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark agent websocket clients")
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    asyncio.run(run(json.loads(args.config.read_text())))


if __name__ == "__main__":
    main()
