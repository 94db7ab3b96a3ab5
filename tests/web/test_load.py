"""Many connections on loopback: everyone gets a broadcast; a browser that stops reading is dropped.

Figures are printed (``pytest -s``), never asserted against a clock: the machine is shared.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection

from agent_ui import messages
from agent_ui.hub import HubLimits
from cti.principal import Principal, Role
from tests.web.conftest import Running, recv, resume, serve

AGENTS = 500
TABS = 2  # 1000 connections


async def test_a_thousand_connections_all_receive_a_broadcast(
    server: Running, mint_cookie: Callable[[Principal], str]
) -> None:
    cookies = [
        mint_cookie(Principal(f"agent{n:03d}", f"Agent {n}", Role.AGENT)) for n in range(AGENTS)
    ]
    gate = asyncio.Semaphore(100)  # handshakes in flight at once
    opened: list[ClientConnection] = []

    async def open_one(cookie: str) -> None:
        async with gate:
            ws = await server.socket(cookie, compression=None)
            opened.append(ws)
            await resume(ws)
            await recv(ws)  # snapshot

    try:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as tasks:
            for cookie in cookies:
                for _ in range(TABS):
                    tasks.create_task(open_one(cookie))
        connected = time.perf_counter() - started
        assert server.hub.metrics().connections == AGENTS * TABS

        notice = messages.call_state("lab:all", "ended", {"note": "broadcast"})
        started = time.perf_counter()
        assert server.hub.broadcast(notice) == AGENTS
        send_returned = time.perf_counter() - started
        async with asyncio.TaskGroup() as tasks:
            got = [tasks.create_task(recv(ws, within_s=60)) for ws in opened]
        delivered = time.perf_counter() - started
        assert all(g.result()["type"] == "call_state" and g.result()["seq"] == 1 for g in got)
        print(
            f"\n{AGENTS * TABS} websockets ({AGENTS} agents x {TABS} tabs): opened and resumed in "
            f"{connected:.2f} s; broadcast queued in {send_returned * 1000:.1f} ms, "
            f"received by all in {delivered * 1000:.0f} ms"
        )
    finally:
        async with asyncio.TaskGroup() as tasks:
            for ws in opened:
                tasks.create_task(ws.close())


async def test_a_browser_that_stops_reading_is_dropped_and_others_keep_up() -> None:
    limits = HubLimits(queue_messages=50, queue_bytes=512 * 1024, send_timeout_s=2.0)
    async with serve(limits=limits) as server:
        cookie, _ = await server.login("alice")
        async with (
            server.socket(cookie, compression=None) as fast,
            server.socket(cookie, compression=None, max_queue=1) as slow,
        ):
            await resume(fast)
            await recv(fast)
            await resume(slow)
            await recv(slow)
            slow.transport.pause_reading()  # the tab froze: nothing is read from its socket
            raw = slow.transport.get_extra_info("socket")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            card = {"blob": "x" * 16_000}  # a large pop card fills the buffers quickly
            received = 0
            started = time.perf_counter()
            for n in range(400):
                seq = server.hub.send("alice", messages.pop(f"lab:{n}", "", card))
                while received < seq:  # the fast tab reads everything as it comes
                    message = await recv(fast)
                    assert message["seq"] == received + 1
                    received = message["seq"]
                if server.hub.connections_of("alice") == 1:
                    break
            dropped_after = time.perf_counter() - started
            assert server.hub.connections_of("alice") == 1
            assert server.hub.metrics().dropped_slow_clients == 1
            print(
                f"\nstalled tab dropped after {seq} pops of 16 kB ({dropped_after:.2f} s);"
                f" the other tab read all {received} in order"
            )
            slow.transport.resume_reading()
            for n in range(3):  # the fast tab still gets what comes next
                server.hub.send("alice", messages.pop(f"late:{n}", "", {}))
                assert (await recv(fast))["data"]["call_id"] == f"late:{n}"
