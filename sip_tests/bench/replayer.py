"""An AMI replayer: a process that speaks AMI like Asterisk and plays recorded calls at a rate.

``python -m sip_tests.bench.replayer CONFIG`` listens on 127.0.0.1, sends the banner, answers
``Login``, ``Ping`` and ``CoreShowChannels`` (no live channels) as Asterisk 22 does, and once
``go_file`` exists plays each phase of CONFIG: ``calls`` calls started ``rate`` a second, made
from the lab transcripts (:mod:`sip_tests.bench.stream`), each ringing the agents' phones the site
seeded. Every event is one ``write`` on a TCP_NODELAY socket (one TCP segment), its
``Timestamp`` is the wall clock as it is written, and the monotonic time of writing each
``AgentCalled`` and ``DialBegin`` (the events that ring a phone, so trigger a pop) goes to
``trigger_log`` as JSON lines ``[t, linkedid, endpoint, phase]``.
"""

# ruff: noqa: ASYNC110, ASYNC230, ASYNC240 (a benchmark process polls small control files)
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

from cti.core.events import endpoint_of
from sip_tests.bench.stream import CallPlan, timeline
from sip_tests.bench.transcripts import load_scripts

__all__ = ["main"]

_TRIGGERS = ("AgentCalled", "DialBegin")


def _frame(*pairs: tuple[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


class _Ami(asyncio.Protocol):
    """One client connection: answers actions; the player writes events to ``transport``."""

    def __init__(self, replayer: Replayer) -> None:
        self.replayer = replayer
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.logged_in = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(b"Asterisk Call Manager/9.0.0\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            headers = dict(
                line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line
            )
            self._answer(headers)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.replayer.client is self:
            self.replayer.client = None

    def _answer(self, headers: dict[str, str]) -> None:
        assert self.transport is not None
        action = headers.get("Action", "").lower()
        action_id = ("ActionID", headers.get("ActionID", ""))
        if action == "login":
            self.logged_in = True
            self.replayer.client = self
            self.transport.write(
                _frame(("Response", "Success"), action_id, ("Message", "Authentication accepted"))
            )
        elif action == "coreshowchannels":
            self.transport.write(
                _frame(
                    ("Response", "Success"),
                    action_id,
                    ("EventList", "start"),
                    ("Message", "Channels will follow"),
                )
                + _frame(
                    ("Event", "CoreShowChannelsComplete"),
                    action_id,
                    ("EventList", "Complete"),
                    ("ListItems", "0"),
                )
            )
        elif action == "ping":
            self.transport.write(_frame(("Response", "Success"), action_id, ("Ping", "Pong")))
        elif action == "logoff":
            self.transport.write(_frame(("Response", "Goodbye"), action_id))
            self.transport.close()
        else:
            self.transport.write(
                _frame(("Response", "Error"), action_id, ("Message", "Invalid/unknown command"))
            )


class Replayer:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.client: _Ami | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Ami(self), "127.0.0.1", self.cfg["port"])
        port = server.sockets[0].getsockname()[1]
        Path(self.cfg["port_file"]).write_text(str(port))
        deadline = time.monotonic() + float(self.cfg.get("lifetime_s", 900))
        go = Path(self.cfg["go_file"])
        while not (go.exists() and self.client is not None):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let the daemon finish its resync
        summary = []
        with Path(self.cfg["trigger_log"]).open("w") as log:
            first = 0
            for number, phase in enumerate(self.cfg["phases"]):
                summary.append(await self._play(number, phase, first, log))
                first += int(phase["calls"])
                await asyncio.sleep(float(self.cfg.get("pause_s", 2.0)))
        Path(self.cfg["done_file"]).write_text(json.dumps(summary))
        stop = Path(self.cfg["stop_file"])
        while not stop.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        server.close()

    async def _play(self, number: int, phase: dict[str, Any], first: int, log: Any) -> Any:
        agents, contacts = int(self.cfg["agents"]), int(self.cfg["contacts"])

        def plan(call: int) -> CallPlan:
            a, b = (2 * call) % agents, (2 * call + 1) % agents
            return CallPlan(
                (f"PJSIP/b{a:04d}", f"PJSIP/b{b:04d}"), f"+44203{1 + call % contacts:07d}"
            )

        loop = asyncio.get_running_loop()
        rate = float(phase["rate"])
        items = timeline(
            load_scripts(),
            calls=int(phase["calls"]),
            rate_per_s=rate,
            plan=plan,
            max_gap_s=float(self.cfg.get("max_gap_s", 1.0)),
            first_call=first,
        )
        started = loop.time()
        mono_start = time.monotonic()
        sent = late = 0
        clock, wall = time.monotonic, time.time
        for item in items:
            delay = started + item.at - loop.time()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            elif delay < -0.005:
                late += 1
            client = self.client
            if client is None or client.transport is None:
                break
            pairs = item.frame.pairs
            name = pairs[0][1]
            stamp = f"{wall():.6f}"
            data = (
                "".join(f"{k}: {stamp if k == 'Timestamp' else v}\r\n" for k, v in pairs) + "\r\n"
            ).encode()
            at = clock()
            client.transport.write(data)
            sent += 1
            if name in _TRIGGERS:
                headers = dict(pairs)
                log.write(
                    json.dumps(
                        [
                            at,
                            headers.get("Linkedid", ""),
                            endpoint_of(headers.get("DestChannel", "")),
                            number,
                        ]
                    )
                    + "\n"
                )
        return {
            "phase": number,
            "rate": rate,
            "calls": int(phase["calls"]),
            "events": sent,
            "late_events": late,
            "start": mono_start,
            "end": time.monotonic(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description="AMI replayer for benchmarks")
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    asyncio.run(Replayer(json.loads(args.config.read_text())).run())


if __name__ == "__main__":
    main()
