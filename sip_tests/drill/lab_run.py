"""What the lab drills share: the lab Asterisk, the real daemon behind a cuttable AMI relay,
SIPp agent phones, and the two counts a drill compares: Asterisk's CDR and the CRM's records.

A drill runs ``cti serve`` (``sip_tests.daemon.DaemonProcess``) with a fresh store in its own
work directory, seeded with the demo agents (1001-1005) and, for drills that spread calls over
more phones, agents for 1006-1010. The daemon reaches Asterisk through ``sip_tests.ami_relay``
when the drill cuts AMI, or directly. Its reconnect settings are the product's defaults
(``[[servers]]`` ``reconnect_base_s`` / ``reconnect_cap_s``) unless a drill is told otherwise:
a drill measures what a customer would run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from crm_connectors.builtin.models import calls as crm_calls_table
from cti.config import AmiServerSettings, LabSettings
from cti.errors import LabError
from cti.store import Store
from sip_tests.ami_relay import AmiCutter
from sip_tests.cdr import CdrLog, CdrRow, call_seconds
from sip_tests.daemon import DaemonProcess
from sip_tests.lab import LabHandle, lab_settings_for, start_lab

__all__ = [
    "EXTRA_AGENTS",
    "Comparison",
    "CrmCall",
    "DrillLab",
    "ReconnectPolicy",
    "compare",
    "crm_calls",
    "drill_lab",
    "lab_offset",
    "resync_seconds",
    "wait_records",
]

# Phones beyond the demo's five agents, so load spreads over ten agent phones.
EXTRA_AGENTS = {f"agent{ext}": f"PJSIP/{ext}" for ext in ("1006", "1007", "1008", "1009", "1010")}
_SERVER = "lab"


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """The daemon's AMI reconnect backoff for a drill: the product's defaults unless given."""

    base_s: float = AmiServerSettings.model_fields["reconnect_base_s"].default
    cap_s: float = AmiServerSettings.model_fields["reconnect_cap_s"].default


@dataclass(frozen=True, slots=True)
class CrmCall:
    """One call record as the built-in CRM holds it."""

    call_id: str
    server: str
    direction: str
    outcome: str
    answered_by: str | None
    called_number: str
    duration_seconds: float
    flags: tuple[str, ...]

    @property
    def linkedid(self) -> str:
        return self.call_id.split(":", 1)[1]


@dataclass(slots=True)
class DrillLab:
    """A running drill: the lab, the daemon, the relay (if AMI goes through one), the CDR."""

    lab: LabHandle
    daemon: DaemonProcess
    relay: AmiCutter | None
    cdr: CdrLog
    cdr_mark: int
    started_at: float = field(default_factory=time.monotonic)

    async def health(self) -> dict[str, Any]:
        """The daemon's ``/healthz`` body (it answers 503 while AMI is down, with a body)."""
        async with httpx.AsyncClient(base_url=self.daemon.origin, timeout=5) as http:
            body: dict[str, Any] = (await http.get("/healthz")).json()
            return body

    async def ami_ready(self) -> bool:
        try:
            return bool((await self.health())["ami"].get(_SERVER))
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    async def wait_idle(self, timeout_s: float) -> None:
        await asyncio.to_thread(self.lab.wait_idle, timeout_s)


def _servers_env(port: int, lab: LabHandle, policy: ReconnectPolicy) -> str:
    s = lab.settings
    server = {
        "name": _SERVER,
        "port": port,
        "username": s.ami_username,
        "secret": s.ami_secret.get_secret_value(),
        "reconnect_base_s": policy.base_s,
        "reconnect_cap_s": policy.cap_s,
    }
    return json.dumps([server])


def _add_extra_agents(store_url: str) -> None:
    store = Store(store_url)
    try:
        for username, endpoint in EXTRA_AGENTS.items():
            if store.get_agent(username) is None:
                store.create_agent(
                    username,
                    password=f"{username}-drill",
                    display_name=f"Agent {endpoint[-4:]}",
                    role="agent",
                    endpoints=[endpoint],
                )
    finally:
        store.close()


def lab_offset(settings: LabSettings) -> int:
    """The offset of a test lab instance (``sip_tests.lab.lab_settings_for``) from its settings."""
    offset = settings.ami_port - lab_settings_for(0).ami_port
    if lab_settings_for(offset) != settings:
        raise LabError(f"lab instance {settings.instance!r} is not a test lab at an offset")
    return offset


def start_drill_lab(offset: int) -> LabHandle:
    """Bring the lab instance of ``offset`` up with no call left over from before."""
    lab = start_lab(lab_settings_for(offset))
    lab.hangup_all()
    lab.wait_idle(15)
    return lab


@asynccontextmanager
async def drill_lab(
    offset: int,
    workdir: Path,
    *,
    through_relay: bool = True,
    reconnect: ReconnectPolicy | None = None,
) -> AsyncIterator[DrillLab]:
    """Run the daemon against lab instance ``offset``; stop everything at the end."""
    lab = await asyncio.to_thread(start_drill_lab, offset)
    relay = AmiCutter(lab.settings.ami_port) if through_relay else None
    port = await relay.start() if relay is not None else lab.settings.ami_port
    daemon = DaemonProcess(lab, workdir)
    daemon.extra_env = {"CTI_SERVERS": _servers_env(port, lab, reconnect or ReconnectPolicy())}
    seeded = await asyncio.to_thread(daemon.cli, "seed")
    if seeded.returncode != 0:
        raise LabError(f"cti seed failed: {seeded.stderr}")
    await asyncio.to_thread(_add_extra_agents, daemon.store_url)
    cdr = CdrLog(lab.instance.cdr_file())
    try:
        # Started from a thread: the relay runs on this loop and must keep serving meanwhile.
        await asyncio.to_thread(daemon.start)
        yield DrillLab(lab, daemon, relay, cdr, cdr.mark())
    finally:
        code = await asyncio.to_thread(daemon.stop)  # also one that never became healthy
        if relay is not None:
            await relay.close()
        await asyncio.to_thread(lab.hangup_all)
    if code != 0:
        raise LabError(f"cti serve exited with {code}: {daemon.log_tail()}")


def crm_calls(store_url: str) -> list[CrmCall]:
    """The lab's call records in the built-in CRM of ``store_url`` (the daemon's store here);
    the demo history the seed wrote (server ``demo``) is left out."""
    engine = create_engine(store_url)
    query = select(crm_calls_table).where(crm_calls_table.c.server == _SERVER)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    finally:
        engine.dispose()
    return [
        CrmCall(
            call_id=row["call_id"],
            server=row["server"],
            direction=row["direction"],
            outcome=row["outcome"],
            answered_by=row["answered_by"],
            called_number=row["called_number"],
            duration_seconds=float(row["duration_seconds"]),
            flags=tuple(row["flags"] or ()),
        )
        for row in rows
    ]


async def wait_records(
    store_url: str, expected: set[str], timeout_s: float, quiet_s: float = 2.0
) -> list[CrmCall]:
    """Wait until the CRM holds a record of every call in ``expected`` (call ids) and nothing
    new arrived for ``quiet_s``, or ``timeout_s`` passed; return what it holds then.

    Answered calls reach the CRM after their group's wrap-up time (the outbox holds them so
    notes typed after the call still go in), hence a generous timeout.
    """
    deadline = time.monotonic() + timeout_s
    last: list[CrmCall] = []
    stable_since = time.monotonic()
    while True:
        now = await asyncio.to_thread(crm_calls, store_url)
        if len(now) != len(last):
            last, stable_since = now, time.monotonic()
        complete = expected <= {c.call_id for c in last}
        if complete and time.monotonic() - stable_since >= quiet_s:
            return last
        if time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.25)


def resync_seconds(daemon_log: Path) -> list[float]:
    """Each resync's duration, as the daemon logged it (login -> live channels reconciled)."""
    found = []
    for line in daemon_log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("message", "") if isinstance(entry, dict) else ""
        if "resynced" in message and message.endswith(" s"):
            found.append(float(message.rsplit(" ", 2)[-2]))
    return found


@dataclass(frozen=True, slots=True)
class Comparison:
    """Asterisk's calls (CDR) against the CRM's records, by linkedid."""

    lost: list[str]  # calls Asterisk has and the CRM does not
    duplicated: list[str]  # records of no call Asterisk has
    outcome_differs: list[str]  # answered by the CDR, not by the record, or the other way
    duration_differs: list[str]  # the record's length is off the CDR's by more than 2 s
    flags: dict[str, int]  # how many records carry each flag (vanished, adopted, ...)


def compare(
    cdr: Mapping[str, Sequence[CdrRow]], records: Sequence[CrmCall], tolerance_s: float = 2.0
) -> Comparison:
    """Compare call by call; ``tolerance_s`` covers cdr_csv's whole-second times."""
    by_id = {r.linkedid: r for r in records}
    outcome, duration = [], []
    for linkedid in sorted(cdr.keys() & by_id.keys()):
        rows, record = cdr[linkedid], by_id[linkedid]
        if any(row.answered for row in rows) != (record.outcome == "answered"):
            outcome.append(linkedid)
        if abs(call_seconds(rows) - record.duration_seconds) > tolerance_s:
            duration.append(linkedid)
    flags: dict[str, int] = {}
    for record in records:
        for flag in record.flags:
            name = flag.split(":", 1)[0]
            flags[name] = flags.get(name, 0) + 1
    return Comparison(
        lost=sorted(cdr.keys() - by_id.keys()),
        duplicated=sorted(by_id.keys() - cdr.keys()),
        outcome_differs=outcome,
        duration_differs=duration,
        flags=flags,
    )
