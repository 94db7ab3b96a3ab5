"""Asterisk's own count of queue calls: the lab's ``queue_log``, and the figures it gives.

app_queue writes one line per queue event (logger.conf ``queue_log``), apart from AMI and the
CTI: ``time|callid|queue|agent|event|data1|data2|...``. The report oracle test computes the
report's figures from these lines and compares them with what the CTI's reports answer. The
lines used, as app_queue writes them (Asterisk 22, ``log_membername_as_agent = yes`` so the
agent field is the member's name):

- ``ENTERQUEUE|url|callerid|position``: a caller joined (offered);
- ``CONNECT|holdtime|bridged uniqueid|ringtime``: an agent answered after ``holdtime`` s;
- ``COMPLETECALLER`` / ``COMPLETEAGENT|holdtime|calltime|origposition``: the call ended;
- ``BLINDTRANSFER|exten|context|holdtime|calltime|origposition`` and
  ``ATTENDEDTRANSFER|method|data|holdtime|calltime|origposition``: the agent transferred it;
- ``ABANDON|position|origposition|waittime``: the caller hung up waiting;
- ``EXITWITHTIMEOUT|position|origposition|waittime``: the queue's timeout sent the caller on;
- ``RINGNOANSWER|ringtime ms``: a member rang and did not answer (or was busy);
- ``ADDMEMBER`` / ``REMOVEMEMBER``, ``PAUSE|reason`` / ``UNPAUSE|reason``: agents.

The file grows across runs of a lab instance: :meth:`QueueLog.mark` notes where it ends now and
:meth:`QueueLog.lines` reads only what was written after a mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AgentFigures",
    "QueueFigures",
    "QueueLine",
    "QueueLog",
    "agent_figures",
    "queue_figures",
]

_ENDED = ("COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER")
_TRANSFERS = ("BLINDTRANSFER", "ATTENDEDTRANSFER")


@dataclass(frozen=True, slots=True)
class QueueLine:
    at: int  # epoch seconds, as app_queue wrote it
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    def number(self, index: int) -> int:
        """Data field ``index`` (1-based, as Asterisk's docs count them) as an integer."""
        return int(self.data[index - 1])


class QueueLog:
    """The queue_log file of one lab instance (``LabInstance.queue_log_file()``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Return where the file ends now (0 if Asterisk has written nothing yet)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def lines(self, since: int = 0) -> list[QueueLine]:
        """Return the lines written after offset ``since`` (a :meth:`mark`)."""
        try:
            with self.path.open("rb") as raw:
                raw.seek(since)
                text = raw.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            fields = line.split("|")
            if len(fields) < 5 or not fields[0].isdigit():
                continue  # a line Asterisk is still writing
            at, callid, queue, agent, event, *data = fields
            out.append(QueueLine(int(at), callid, queue, agent, event, tuple(data)))
        return out


@dataclass
class QueueFigures:
    """One queue's figures, counted the way the reports define them (docs/reports.md)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0  # not short
    abandoned_short: int = 0
    timed_out: int = 0
    waits_answered: list[int] = field(default_factory=list)
    within_sl: int = 0
    talk_s: int = 0
    longest_wait_s: int = 0
    transfers: int = 0
    ring_no_answer: int = 0

    @property
    def asa_s(self) -> float | None:
        n = len(self.waits_answered)
        return round(sum(self.waits_answered) / n, 1) if n else None

    @property
    def service_level_pct(self) -> float | None:
        counted = self.offered - self.abandoned_short
        return round(self.within_sl * 100 / counted, 1) if counted > 0 else None


def queue_figures(
    lines: Iterable[QueueLine], *, short_abandon_s: int = 5, service_level_s: int = 20
) -> dict[str, QueueFigures]:
    """Each queue's figures from its queue_log lines."""
    out: dict[str, QueueFigures] = {}
    for line in lines:
        if line.queue == "NONE":
            continue
        q = out.setdefault(line.queue, QueueFigures())
        if line.event == "ENTERQUEUE":
            q.offered += 1
        elif line.event == "CONNECT":
            wait = line.number(1)
            q.answered += 1
            q.waits_answered.append(wait)
            q.within_sl += wait <= service_level_s
            q.longest_wait_s = max(q.longest_wait_s, wait)
        elif line.event in _ENDED:
            q.talk_s += line.number(2 if line.event.startswith("COMPLETE") else 4)
            q.transfers += line.event in _TRANSFERS
        elif line.event in ("ABANDON", "EXITWITHTIMEOUT"):
            wait = line.number(3)
            q.longest_wait_s = max(q.longest_wait_s, wait)
            if line.event == "EXITWITHTIMEOUT":
                q.timed_out += 1
            elif wait < short_abandon_s:
                q.abandoned_short += 1
            else:
                q.abandoned += 1
        elif line.event == "RINGNOANSWER":
            q.ring_no_answer += 1
    return out


@dataclass
class AgentFigures:
    queue_calls: int = 0
    ring_no_answer: int = 0
    transfers: int = 0
    logged_in_s: int = 0
    paused_s: dict[str, int] = field(default_factory=dict)  # reason -> seconds


def agent_figures(lines: Iterable[QueueLine], names: Mapping[str, str]) -> dict[str, AgentFigures]:
    """Each agent's figures from queue_log; ``names`` maps a member name to the agent's name.

    Pauses and logins are paired per agent and queue, so an agent paused in two queues at once
    counts twice: the oracle test pauses and logs in agents of one queue only.
    """
    out: dict[str, AgentFigures] = {}
    since: dict[tuple[str, str, str], tuple[int, str]] = {}
    for line in lines:
        agent = names.get(line.agent)
        if agent is None:
            continue
        a = out.setdefault(agent, AgentFigures())
        if line.event == "CONNECT":
            a.queue_calls += 1
        elif line.event == "RINGNOANSWER":
            a.ring_no_answer += 1
        elif line.event in _TRANSFERS:
            a.transfers += 1
        elif line.event in ("ADDMEMBER", "PAUSE"):
            kind = "login" if line.event == "ADDMEMBER" else "pause"
            reason = line.data[0] if kind == "pause" and line.data else ""
            since.setdefault((agent, kind, line.queue), (line.at, reason))
        elif line.event in ("REMOVEMEMBER", "UNPAUSE"):
            kind = "login" if line.event == "REMOVEMEMBER" else "pause"
            started = since.pop((agent, kind, line.queue), None)
            if started is None:
                continue
            seconds = line.at - started[0]
            if kind == "login":
                a.logged_in_s += seconds
            else:
                a.paused_s[started[1]] = a.paused_s.get(started[1], 0) + seconds
    return out
