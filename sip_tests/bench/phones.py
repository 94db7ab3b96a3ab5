"""Agent phones in a process of their own: ``python -m sip_tests.bench.phones CONFIG``.

pjsua2 allows one Endpoint per process, and the pjsua2-python wheel at most 8 accounts and 4
call legs in it (:mod:`sip_tests.pjsua_calls`), so benchmarks and drills that need more phones,
or run inside a test session whose process already holds a fleet, put them in processes like
this one. CONFIG (JSON): ``registrar`` (host:port), ``phones`` (``[[extension, password], ...]``),
``answer_after_s`` (each call is answered that long after its INVITE), ``ready_file``,
``stop_file``, ``out_file``, ``lifetime_s``.

The process writes ``ready_file`` once every phone is registered. When ``stop_file`` appears
(or ``lifetime_s`` ran out) it writes one JSON line per incoming call to ``out_file``:
``[invite_at, extension, caller number, answered_at or null]``. ``invite_at`` is
``time.monotonic()`` taken first thing in pjsua2's ``onIncomingCall``: CLOCK_MONOTONIC is
shared by every process of the machine, so it compares with a websocket client's stamps.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sip_tests.agent_phones import register
from sip_tests.lab import LabHandle
from sip_tests.phone import AutoAnswer, IncomingCall, PhoneFleet

__all__ = ["clear_bindings", "main", "run"]


def clear_bindings(lab: LabHandle, extensions: Sequence[str]) -> None:
    """Remove every registered contact of ``extensions`` (``Contact: *``).

    The lab's agent endpoints take two contacts each: a phone left registered by an earlier
    run that was killed would have Asterisk fork each call to it as well.
    """
    registrar = ("127.0.0.1", lab.settings.sip_port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        for ext in extensions:
            register(sock, registrar, ext, lab.password(ext), clear_all=True)


def run(cfg: dict[str, Any]) -> None:
    """Register the phones, answer what rings them, report every INVITE when told to stop."""
    stop = Path(cfg["stop_file"])
    deadline = time.monotonic() + float(cfg.get("lifetime_s", 300))
    policy = AutoAnswer(float(cfg.get("answer_after_s", 0.3)))
    with PhoneFleet() as fleet:
        phones = [
            fleet.phone(str(ext), str(password), str(cfg["registrar"]), answer=policy)
            for ext, password in cfg["phones"]
        ]
        for phone in phones:
            phone.wait_registered(15)
        Path(cfg["ready_file"]).write_text(str(len(phones)))
        while not stop.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = []
        for phone in phones:
            for call in phone.calls:
                if isinstance(call, IncomingCall):
                    answered = call.reached("CONFIRMED")
                    rows.append(
                        [
                            call.invite_at,
                            phone.extension,
                            call.caller_number,
                            answered.at if answered else None,
                        ]
                    )
    with Path(cfg["out_file"]).open("w") as out:
        for row in sorted(rows):
            out.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="pjsua2 agent phones for benchmarks and drills")
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    run(json.loads(args.config.read_text()))


if __name__ == "__main__":
    main()
