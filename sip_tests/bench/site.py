"""A call-centre site for benchmarks and drills: a store with agents and a CRM, and the daemon.

:func:`seed_site` fills a fresh SQLite store with ``agents`` agents (``b0000``, ``b0001``, ...
on phones ``PJSIP/b0000``, ...) in one transaction, without passwords: benchmark clients carry
session cookies minted with the site's secret (:meth:`Site.cookie`) instead of logging in,
which would cost an argon2 hash each. The built-in CRM gets ``contacts`` generated contacts
(:func:`crm_connectors.builtin.seed_bulk`), so every benchmark caller is somebody.
:class:`DaemonProcess` runs the real ``cti serve`` on that site in a process of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import create_engine, insert

from agent_ui.session import SessionCodec
from crm_connectors.builtin import seed_bulk
from crm_connectors.builtin import upgrade as upgrade_crm
from crm_connectors.builtin.bulk_rows import main_number
from cti.config import StoreSettings
from cti.principal import Principal, Role
from cti.store import Store
from cti.store.models import agent_endpoints
from cti.store.models import agents as agent_rows

__all__ = [
    "DaemonProcess",
    "Site",
    "agent_name",
    "cpu_seconds",
    "free_port",
    "phone_of",
    "seed_site",
]


def agent_name(index: int) -> str:
    return f"b{index:04d}"


def phone_of(index: int) -> str:
    return f"PJSIP/{agent_name(index)}"


def cpu_seconds(pid: int, thread: int | None = None) -> float | None:
    """User + system CPU of process ``pid`` (or of one of its threads) so far; None once gone."""
    where = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(where).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Site:
    """Where a benchmark site lives and what it holds."""

    workdir: Path
    agents: int
    contacts: int
    secret: str

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.workdir / 'cti.sqlite3'}"

    def caller(self, call: int) -> str:
        """The number call ``call`` comes from: one of the CRM's contacts."""
        return main_number(1 + call % self.contacts)

    def cookie(self, index: int) -> str:
        """A session cookie value for agent ``index``, as a login would have set it."""
        codec = SessionCodec(SecretStr(self.secret), max_age_s=12 * 3600)
        name = agent_name(index)
        _, value = codec.issue(Principal(name, f"Bench {name}", Role.AGENT))
        return value


def seed_site(workdir: Path, *, agents: int, contacts: int) -> Site:
    """Create the store, the agents and their phones, and the CRM; return the site."""
    workdir.mkdir(parents=True, exist_ok=True)
    site = Site(workdir, agents, contacts, secrets.token_urlsafe(48))
    store = Store.from_settings(StoreSettings(url=site.store_url))
    try:
        store.upgrade()
    finally:
        store.close()
    engine = create_engine(site.store_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(agent_rows),
                [
                    {
                        "id": i + 1,
                        "username": agent_name(i),
                        "display_name": f"Bench {agent_name(i)}",
                        "email": None,
                        "password_hash": None,
                        "role": "agent",
                        "active": True,
                        "created_at": now,
                    }
                    for i in range(agents)
                ],
            )
            conn.execute(
                insert(agent_endpoints),
                [
                    {"agent_id": i + 1, "endpoint": phone_of(i), "server": None}
                    for i in range(agents)
                ],
            )
    finally:
        engine.dispose()
    upgrade_crm(site.store_url)
    seed_bulk(site.store_url, contacts)
    return site


@dataclass
class DaemonProcess:
    """``cti serve`` in its own process on a site, with its AMI pointed at ``ami_port``."""

    site: Site
    ami_port: int
    port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        server = {
            "name": "bench",
            "port": self.ami_port,
            "username": "cti",
            "secret": "bench",
            "reconnect_base_s": 0.2,
            "reconnect_cap_s": 1.0,
        }
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("CTI_")},
            "CTI_SERVERS": json.dumps([server]),
            "CTI_STORE__URL": self.site.store_url,
            "CTI_STATE_DIR": str(self.site.workdir / "state"),
            "CTI_HTTP__PORT": str(self.port),
            "CTI_HTTP__PUBLIC_ORIGIN": self.origin,
            "CTI_HTTP__SESSION_SECRET": self.site.secret,
            "CTI_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the daemon and wait until it answers ``/healthz`` (any status)."""
        log = (self.site.workdir / "daemon.log").open("ab")
        with log:
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
            try:
                httpx.get(f"{self.origin}/healthz", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            return
        raise RuntimeError(f"cti serve did not answer in {timeout_s} s: {self.log_tail()}")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.origin}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Signal the daemon and wait for it; kill it past ``timeout_s``; return its status."""
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

    def log_tail(self, lines: int = 30) -> str:
        path = self.site.workdir / "daemon.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )
