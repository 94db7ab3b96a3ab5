"""A blocking, dependency-free AMI check used only to learn when a lab Asterisk is ready.

The daemon's real AMI client lives in pbx_adapters; the lab keeps this tiny probe so that bringing
the lab up never depends on the product's own code working.
"""

from __future__ import annotations

import socket
import time

from cti.errors import LabError

__all__ = ["wait_fully_booted"]


def wait_fully_booted(
    host: str, port: int, username: str, secret: str, *, timeout_s: float
) -> bool:
    """Log in and wait for ``FullyBooted`` (sent once every module is loaded); False if not yet."""
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            buffer = b""
            login = (
                f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\n"
                "Events: system\r\n\r\n"
            )
            sock.sendall(login.encode())
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                buffer += chunk
                if b"Message: Authentication failed" in buffer:
                    raise LabError(
                        f"AMI user {username!r} was refused on {host}:{port}: "
                        "asterisk-config/manager.conf and the lab settings disagree"
                    )
                if b"Event: FullyBooted" in buffer:
                    sock.sendall(b"Action: Logoff\r\n\r\n")
                    return True
    except (OSError, TimeoutError):
        return False
    return False
