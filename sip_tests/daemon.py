"""Run the real daemon (`cti serve`) against a lab Asterisk, as tests and fault drills do.

:class:`DaemonProcess` is one ``cti serve`` subprocess with its own store, state directory and
HTTP port, logging JSON to ``daemon.log`` in its work directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sip_tests.lab import LabHandle, ami_server

__all__ = ["DaemonProcess", "free_tcp_port"]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DaemonProcess:
    """A `cti serve` subprocess with its own store, state and HTTP port."""

    lab: LabHandle
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_tcp_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.workdir / 'cti.sqlite3'}"

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("CTI_")},
            "CTI_SERVERS": json.dumps([ami_server(self.lab)]),
            "CTI_STORE__URL": self.store_url,
            "CTI_STATE_DIR": str(self.workdir / "state"),
            "CTI_HTTP__PORT": str(self.port),
            "CTI_HTTP__PUBLIC_ORIGIN": self.origin,
            "CTI_CRM__LOOKUP_TIMEOUT_MS": "300",
            "CTI_LOG_FORMAT": "json",
            **self.extra_env,
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cti.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "daemon.log").open("ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cti.cli", "serve"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cti serve exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"cti serve not healthy after {timeout_s} s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"cti serve ignored signal {sig}: {self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "daemon.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )
