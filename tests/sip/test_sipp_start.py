"""Starting SIPp (sip_tests.sipp._start): it returns only once SIPp listens, and a start lost to a
port taken a moment before is tried again rather than losing a drill's calls.

Real SIPp processes on loopback; no Asterisk is needed (the answering-phone scenario waits for
an INVITE that never comes, and is stopped).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sip_tests.sipp import SippError, SippProcess, _start, cleanup_workdirs, free_udp_port

HOST = "127.0.0.1"


def _taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _phone(local_port: int | None, *, tries: int = 4) -> SippProcess:
    return _start(
        "agent_phone.xml",
        {"ANSWER_DELAY_MS": 100},
        [],
        local_host=HOST,
        local_port=local_port,
        remote=None,
        global_timeout_s=30,
        tries=tries,
    )


@pytest.fixture
def started() -> Iterator[list[SippProcess]]:
    procs: list[SippProcess] = []
    yield procs
    for proc in procs:
        proc.stop()
    cleanup_workdirs(procs)


def test_start_returns_once_the_sip_and_media_ports_are_bound(
    started: list[SippProcess],
) -> None:
    proc = _phone(None)
    started.append(proc)
    argv = proc.argv
    sip_port = int(argv[argv.index("-p") + 1])
    media = int(argv[argv.index("-mp") + 1])
    assert proc.proc.poll() is None
    assert _taken(sip_port)
    assert _taken(media) and _taken(media + 2)  # audio and video RTP


def test_a_port_taken_for_good_is_an_error_in_sipps_words() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind((HOST, 0))
        port = int(held.getsockname()[1])
        with pytest.raises(SippError, match=r"exited at start.*Address already in use"):
            _phone(port, tries=2)


def test_a_start_lost_to_a_port_taken_a_moment_before_is_tried_again(
    started: list[SippProcess],
) -> None:
    port = free_udp_port(HOST)
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind((HOST, port))
    released = threading.Timer(0.3, held.close)  # another process lets go of the port
    released.start()
    try:
        proc = _phone(port, tries=200)
    finally:
        released.join()
        held.close()
    started.append(proc)
    assert proc.proc.poll() is None and _taken(port)
