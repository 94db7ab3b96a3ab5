"""The daemon and consoles the issue-19 lab tests share (listen/whisper/barge, recordings).

sam supervises Sales and listens on his own desk phone (1010); sue supervises Support only;
alice (1001, Sales) takes the calls. Recordings are read where the lab Asterisk writes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from cti.store import Store
from sip_tests.lab import LabHandle
from tests.e2e.daemon import DaemonProcess

__all__ = ["console", "events_of", "monitor_dir", "monitoring_daemon"]


def monitor_dir(lab: LabHandle) -> Path:
    """Asterisk's monitor spool directory of the lab instance (MixMonitor's files)."""
    return lab.instance.directory / "spool" / "monitor"


@contextmanager
def monitoring_daemon(
    lab: LabHandle, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[DaemonProcess]:
    """A seeded `cti serve` with sam on 1010 and sue supervising Support; stopped after."""
    monitor_dir(lab).mkdir(parents=True, exist_ok=True)
    env = {"CTI_RECORDING__DIRECTORY": str(monitor_dir(lab)), **(extra_env or {})}
    process = DaemonProcess(lab, workdir, extra_env=env)
    seeded = process.cli("seed")
    assert seeded.returncode == 0, seeded.stderr
    store = Store(process.store_url)
    try:
        store.update_agent("sam", endpoints=["PJSIP/1010"])
        store.create_agent("sue", password="sue-demo", display_name="Sue", role="supervisor")
        support = store.get_group("Support")
        assert support is not None
        store.update_group("Support", replace(support.spec, supervisors=("sue",)))
    finally:
        store.close()
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


@asynccontextmanager
async def console(daemon: DaemonProcess, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as ``username`` (password ``<username>-demo``), CSRF set."""
    async with httpx.AsyncClient(
        base_url=daemon.origin, headers={"origin": daemon.origin}, timeout=30
    ) as client:
        reply = await client.post(
            "/login", json={"username": username, "password": f"{username}-demo"}
        )
        reply.raise_for_status()
        client.headers["x-cti-csrf"] = reply.json()["csrf"]
        yield client


def events_of(daemon: DaemonProcess, prefix: str) -> list[str]:
    """The kinds of the audit events starting with ``prefix``, oldest first."""
    store = Store(daemon.store_url)
    try:
        return [e.kind for e in reversed(store.events(limit=200)) if e.kind.startswith(prefix)]
    finally:
        store.close()
