"""Count what one call costs the daemon: SQL statements, transactions and frames per agent.

The real :class:`~cti.daemon.Daemon` (no PBX: its AMI port is closed) is fed a recorded lab
transcript event by event, as the AMI read path would feed it; agents' tabs are fake senders
registered with the hub. Every statement any SQLAlchemy engine of the process executes is
counted (``before_cursor_execute``), with the transactions they ran in (``begin``), from the
first event until the call's record is in the outbox and delivered, and its live-call row gone.
Nothing here is timed: the counts are the same on any machine.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from cti.config import AmiServerSettings, OutboxSettings, Settings, StoreSettings
from cti.core.events import PbxEvent
from cti.daemon import Daemon
from cti.principal import Principal, Role
from tests.transcript import events_of, frames

__all__ = ["CallCost", "measure_call"]

AGENTS = {"alice": "PJSIP/1001", "bob": "PJSIP/1002"}


@dataclass
class CallCost:
    """What one replayed call cost: statements by kind, transactions, frames by agent and type."""

    statements: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    frames: dict[str, Counter[str]] = field(default_factory=dict)
    frame_chars: dict[str, int] = field(default_factory=dict)

    @property
    def sql(self) -> int:
        return sum(self.statements.values())

    def frames_of(self, agent: str) -> int:
        return sum(self.frames.get(agent, Counter()).values())


class _Tab:
    """One agent's tab: keeps the type and size of every frame the hub writes to it."""

    def __init__(self) -> None:
        self.types: Counter[str] = Counter()
        self.chars = 0

    async def send_text(self, text: str) -> None:
        self.types[json.loads(text)["type"]] += 1
        self.chars += len(text)

    async def close(self, code: int, reason: str) -> None:
        del code, reason


@contextmanager
def _counting(cost: CallCost) -> Iterator[None]:
    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        del conn, cursor, args
        cost.statements[_kind(sql)] += 1

    def begin(conn: Any) -> None:
        del conn
        cost.transactions += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "begin", begin)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "begin", begin)


_TABLE = re.compile(r"\b(?:INTO|FROM|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def _kind(sql: str) -> str:
    """``SELECT outbox``, ``INSERT live_calls``, ``BEGIN``: the verb and the first table."""
    verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
    found = _TABLE.search(sql)
    return f"{verb} {found.group(1).lower()}" if found else verb


async def _until(check: Any, what: str, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def measure_call(workdir: Path, transcript: str, *, tabs: int = 1) -> CallCost:
    """Replay ``transcript`` (one call) through a fresh daemon; return what it cost."""
    state = workdir / "state"
    state.mkdir(mode=0o700, parents=True)
    settings = Settings(
        state_dir=state,
        store=StoreSettings(
            url=f"sqlite:///{workdir}/cti.sqlite3",
            outbox=OutboxSettings(poll_interval_s=3600),  # woken by each record, not its poll
        ),
        servers=(AmiServerSettings(name="lab", port=_closed_port()),),
    )
    daemon = Daemon(settings)
    await asyncio.to_thread(daemon.store.upgrade)
    for username, endpoint in AGENTS.items():
        daemon.store.create_agent(username, display_name=username.title(), endpoints=[endpoint])
    await daemon.start()
    cost = CallCost()
    writers: list[asyncio.Task[None]] = []
    senders: dict[str, list[_Tab]] = {}
    try:
        await daemon.refresh_directory()
        if daemon._refresh_task is not None:  # its reload every 10 s is not the call's cost
            daemon._refresh_task.cancel()
        for ticking in (daemon.report_facts, daemon.missed_calls):  # flushed below instead,
            if ticking._task is not None:  # at fixed points: a count must not follow timing
                ticking._task.cancel()
        if daemon.access._loop_task is not None:  # its pool refresh is not the call's cost
            daemon.access._loop_task.cancel()
        for username in AGENTS:
            for _ in range(tabs):
                tab = _Tab()
                conn = daemon.hub.open(
                    Principal(username, username.title(), Role.AGENT), tab, last_seq=None
                )
                senders.setdefault(username, []).append(tab)
                writers.append(asyncio.create_task(conn.run()))
        await asyncio.sleep(0.05)  # hello and snapshot written: not the call's frames
        before = {a: (Counter(t[0].types), t[0].chars) for a, t in senders.items()}
        await daemon.live_calls.save()  # nothing live: the journal starts clean
        events = events_of(frames(transcript))
        # The report figures' clock is the recording's: the open agent states a tick counts up to
        # now would otherwise span every 15 minutes since the transcript was recorded.
        fed: list[PbxEvent] = []
        daemon.report_facts._clock = lambda: fed[-1].at if fed else events[0].at
        with _counting(cost):
            half = len(events) // 2
            for event_ in events[:half]:
                fed.append(event_)
                await _feed(daemon, event_)
            await _ticks(daemon)  # the call as the periodic writers save it while it is up
            for event_ in events[half:]:
                fed.append(event_)
                await _feed(daemon, event_)
            await _until(lambda: daemon.records.written >= 1, "the record written")
            await _until(lambda: daemon.writer.stats.delivered_total >= 1, "the record delivered")
            await _ticks(daemon)
        for username, (types, chars) in before.items():
            tab = senders[username][0]
            cost.frames[username] = tab.types - types
            cost.frame_chars[username] = tab.chars - chars
    finally:
        await daemon.close()
        for task in writers:
            task.cancel()
    return cost


async def _ticks(daemon: Daemon) -> None:
    """One tick of each periodic writer: live calls, report figures, missed calls."""
    await daemon.live_calls.save()
    await daemon.report_facts.flush()
    await daemon.missed_calls.flush()


async def _feed(daemon: Daemon, event_: PbxEvent) -> None:
    """One event down the read path; then let the CRM answer, as it does before the next ring
    on the lab (the events come in one burst here, milliseconds apart there)."""
    daemon._on_event(event_)
    sessions = daemon.pops._calls.values()  # the lookups of the calls up now
    await _until(lambda: all(s.task is None or s.task.done() for s in sessions), "lookups")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
