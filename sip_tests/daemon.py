"""Run the real daemon (`cti serve`) in a process of its own, as tests, drills and benchmarks do.

:class:`ServeProcess` is the one launcher: it starts ``cti serve`` with its own store, state
directory and HTTP port, waits for ``/healthz``, signals it and reads its ``daemon.log``. What
differs is only the daemon's settings: :class:`DaemonProcess` points it at a lab Asterisk and logs
JSON (tests and drills); the benchmarks' ``sip_tests.bench.site.SiteDaemon`` points it at a
benchmark site.
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
from typing import ClassVar

import httpx

from sip_tests.lab import LabHandle, ami_server

__all__ = ["DaemonProcess", "ServeProcess", "cpu_seconds", "free_tcp_port"]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int, thread: int | None = None, *, kernel_only: bool = False) -> float | None:
    """User + system CPU of process ``pid`` (or of one of its threads) so far, or its system
    (kernel) CPU alone; None once gone."""
    where = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(where).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[12]) if kernel_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class ServeProcess:
    """``cti serve`` in its own process; a subclass (a dataclass) gives the fields and settings.

    The daemon's store is ``cti.sqlite3`` and its log ``daemon.log`` in ``workdir``; ``extra_env``
    overrides any setting.
    """

    workdir: Path
    port: int
    extra_env: Mapping[str, str]
    proc: subprocess.Popen[bytes] | None

    #: How long :meth:`start` waits by default.
    start_timeout_s: ClassVar[float] = 30.0
    #: Whether :meth:`start` waits for ``/healthz`` to say 200 (AMI up) or for any answer.
    start_until_healthy: ClassVar[bool] = True

    def settings_env(self) -> dict[str, str]:
        """The ``CTI_*`` settings of this kind of daemon (beyond store, state and HTTP)."""
        raise NotImplementedError

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.workdir / 'cti.sqlite3'}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("CTI_")},
            "CTI_STORE__URL": self.store_url,
            "CTI_STATE_DIR": str(self.workdir / "state"),
            "CTI_HTTP__PORT": str(self.port),
            "CTI_HTTP__PUBLIC_ORIGIN": self.origin,
            **self.settings_env(),
            **self.extra_env,
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another ``cti`` command with this daemon's settings (``seed``, ``outbox list``)."""
        return subprocess.run(
            [sys.executable, "-m", "cti.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, timeout_s: float | None = None) -> None:
        """Start the daemon and wait until ``/healthz`` answers (200, or anything: see above)."""
        timeout_s = self.start_timeout_s if timeout_s is None else timeout_s
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
                raise RuntimeError(f"cti serve exited: {self.log_tail()}")
            if self._answers(healthy_only=self.start_until_healthy, timeout_s=1):
                return
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()  # a fixture that fails here never reaches its teardown: leave no daemon up
        raise RuntimeError(f"cti serve not ready after {timeout_s} s: {tail}")

    def healthy(self) -> bool:
        """Whether ``/healthz`` says 200 now (every AMI server connected)."""
        return self._answers(healthy_only=True, timeout_s=2)

    def _answers(self, *, healthy_only: bool, timeout_s: float) -> bool:
        try:
            status = httpx.get(f"{self.origin}/healthz", timeout=timeout_s).status_code
        except httpx.HTTPError:
            return False
        return status == 200 or not healthy_only

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Signal the daemon and wait; kill it past ``timeout_s``; its exit status (None: never
        started). A daemon that had to be killed returns ``-SIGKILL``, which callers check."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def rss_kib(self) -> int:
        """The daemon's resident memory now (VmRSS, KiB)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU the daemon used so far (every thread)."""
        return cpu_seconds(self.pid) or 0.0

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "daemon.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


@dataclass
class DaemonProcess(ServeProcess):
    """The daemon on a lab Asterisk, logging JSON: what tests and drills run."""

    lab: LabHandle
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_tcp_port)
    proc: subprocess.Popen[bytes] | None = None

    def settings_env(self) -> dict[str, str]:
        return {
            "CTI_SERVERS": json.dumps([ami_server(self.lab)]),
            "CTI_CRM__LOOKUP_TIMEOUT_MS": "300",
            "CTI_LOG_FORMAT": "json",
            # The browser phone: the lab's websocket and its agents' lab-<ext> secrets.
            "CTI_WEBPHONE__WS_URL": self.lab.websocket_url,
            "CTI_WEBPHONE__LAB_PASSWORDS": "true",
        }
