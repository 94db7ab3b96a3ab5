"""Asterisk's own count of calls: the lab's CDR file (cdr_csv's ``Master.csv``).

The fault drills compare what the CRM holds with what Asterisk says happened. The lab loads
``cdr_csv`` with ``loguniqueid`` and ``loguserfield`` (asterisk-config/cdr.conf), so each row is
the 16 standard columns, then the uniqueid, then the userfield. Asterisk writes one row per
party-A / party-B pairing (a ringall queue call gives a row per agent rung), and the ``uniqueid``
of a row is its party A's: for a call from the trunk, and for a click-to-dial Originate, that is
the channel that started the call, whose uniqueid is the call's linkedid, which is what the CTI
names the call by (``server:linkedid``). So the calls are the distinct uniqueids of the rows
whose party A is the channel that started them.

The file grows across runs of a lab instance: :meth:`CdrLog.mark` notes where it ends now, and
:meth:`CdrLog.rows` reads only what was written after a mark.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["CdrLog", "CdrRow", "call_seconds", "calls_from"]

_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CdrRow:
    """One CDR row: party A (``channel``) to party B (``dstchannel``), as Asterisk wrote it."""

    src: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    start: str
    answer: str
    end: str
    duration: int
    billsec: int
    disposition: str  # ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION
    uniqueid: str

    @property
    def answered(self) -> bool:
        return self.disposition == "ANSWERED"


class CdrLog:
    """The CDR file of one lab instance (``LabInstance.cdr_file()``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Return where the file ends now (0 if Asterisk has written nothing yet)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def rows(self, since: int = 0) -> list[CdrRow]:
        """Return the rows written after offset ``since`` (a :meth:`mark`)."""
        try:
            with self.path.open("rb") as raw:
                raw.seek(since)
                text = raw.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        rows = []
        for fields in csv.reader(io.StringIO(text)):
            if len(fields) < len(_COLUMNS):
                continue  # a row Asterisk is still writing
            row = dict(zip(_COLUMNS, fields, strict=False))
            rows.append(
                CdrRow(
                    src=row["src"],
                    dst=row["dst"],
                    dcontext=row["dcontext"],
                    channel=row["channel"],
                    dstchannel=row["dstchannel"],
                    lastapp=row["lastapp"],
                    start=row["start"],
                    answer=row["answer"],
                    end=row["end"],
                    duration=int(row["duration"] or 0),
                    billsec=int(row["billsec"] or 0),
                    disposition=row["disposition"],
                    uniqueid=row["uniqueid"],
                )
            )
        return rows


def calls_from(rows: Iterable[CdrRow], channel_prefix: str) -> dict[str, list[CdrRow]]:
    """Group the rows whose party A starts with ``channel_prefix`` (``PJSIP/lab-trunk-``) by
    the call they belong to (party A's uniqueid, the call's linkedid)."""
    calls: dict[str, list[CdrRow]] = {}
    for row in rows:
        if row.channel.startswith(channel_prefix):
            calls.setdefault(row.uniqueid, []).append(row)
    return calls


def call_seconds(rows: Sequence[CdrRow]) -> float:
    """How long a call lasted by its CDR rows: the first start to the last end (whole seconds:
    cdr_csv writes times to the second)."""
    starts = [datetime.fromisoformat(row.start) for row in rows if row.start]
    ends = [datetime.fromisoformat(row.end) for row in rows if row.end]
    if not starts or not ends:
        return 0.0
    return (max(ends) - min(starts)).total_seconds()
