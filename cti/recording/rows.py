"""SQL for the recording tables: group policies and recording rows (blocking; run in threads)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cti.errors import ValidationFailed
from cti.recording.tables import recording_policies, recordings

__all__ = ["GroupPolicy", "Policy", "RecordingRow"]

# A sound Asterisk plays by name (Playback): "beep", "custom/recorded"; no extension, no "..".
_SOUND = re.compile(r"^[a-z0-9_-]{1,32}(/[a-z0-9_-]{1,32})?$")


class Policy(StrEnum):
    NEVER = "never"
    ALWAYS = "always"
    DEMAND = "demand"  # the file is made on answer, silent until the agent starts it


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """How one group's calls are recorded and whether its agents hear of a supervisor."""

    group: str
    policy: Policy = Policy.NEVER
    tell_agent: bool = True
    retention_days: int = 90
    announcement: str = ""  # played to the caller before a recorded call rings; "": none

    @classmethod
    def parse(cls, group: str, fields: dict[str, Any]) -> GroupPolicy:
        """Check a supervisor's fields; ValidationFailed names the first bad one."""
        try:
            policy = Policy(str(fields.get("policy", "never")))
        except ValueError:
            raise ValidationFailed(
                "policy is never, always or demand", details={"field": "policy"}
            ) from None
        tell = fields.get("tell_agent", True)
        days = fields.get("retention_days", 90)
        if not isinstance(tell, bool):
            raise ValidationFailed("tell_agent is true or false", details={"field": "tell_agent"})
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            raise ValidationFailed(
                "retention_days is a whole number of days from 1 to 3650",
                details={"field": "retention_days"},
            )
        sound = fields.get("announcement", "")
        if not isinstance(sound, str) or (sound and not _SOUND.fullmatch(sound)):
            raise ValidationFailed(
                "announcement is empty or a sound name such as beep or custom/recorded "
                "(lower-case letters, digits, - and _, at most one folder, no extension)",
                details={"field": "announcement"},
            )
        return cls(group, policy, tell, days, sound)

    def as_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "policy": str(self.policy),
            "tell_agent": self.tell_agent,
            "retention_days": self.retention_days,
            "announcement": self.announcement,
        }


@dataclass(frozen=True, slots=True)
class RecordingRow:
    id: str
    call_id: str
    server: str
    agent: str
    group: str
    started_at: datetime
    ended_at: datetime | None
    pauses: tuple[tuple[float, float | None], ...]
    deleted_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "agent": self.agent,
            "group": self.group,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "pauses": [list(p) for p in self.pauses],
            "deleted": self.deleted_at is not None,
            "url": f"/api/recordings/{self.id}",
        }


def all_policies(conn: Connection) -> dict[str, GroupPolicy]:
    return {
        row.group_name: GroupPolicy(
            row.group_name,
            Policy(row.policy),
            bool(row.tell_agent),
            int(row.retention_days),
            str(row.announcement),
        )
        for row in conn.execute(select(recording_policies))
    }


def save_policy(conn: Connection, policy: GroupPolicy, now: datetime) -> None:
    values = {
        "policy": str(policy.policy),
        "tell_agent": policy.tell_agent,
        "retention_days": policy.retention_days,
        "announcement": policy.announcement,
        "updated_at": now,
    }
    table = recording_policies
    done = conn.execute(
        update(table).where(table.c.group_name == policy.group).values(**values)
    ).rowcount
    if not done:
        conn.execute(insert(table).values(group_name=policy.group, **values))


def insert_recording(conn: Connection, row: RecordingRow) -> None:
    conn.execute(
        insert(recordings).values(
            id=row.id,
            call_id=row.call_id,
            server=row.server,
            agent=row.agent,
            group_name=row.group,
            started_at=row.started_at,
            ended_at=row.ended_at,
            pauses=[list(p) for p in row.pauses],
        )
    )


def set_pauses(conn: Connection, key: str, pauses: tuple[tuple[float, float | None], ...]) -> None:
    conn.execute(
        update(recordings).where(recordings.c.id == key).values(pauses=[list(p) for p in pauses])
    )


def end_recording(conn: Connection, key: str, at: datetime) -> None:
    conn.execute(
        update(recordings)
        .where(recordings.c.id == key, recordings.c.ended_at.is_(None))
        .values(ended_at=at)
    )


def mark_deleted(conn: Connection, key: str, at: datetime) -> None:
    conn.execute(update(recordings).where(recordings.c.id == key).values(deleted_at=at))


def get_recording(conn: Connection, key: str) -> RecordingRow | None:
    row = conn.execute(select(recordings).where(recordings.c.id == key)).first()
    return None if row is None else _row(row)


def recordings_of_call(conn: Connection, call_id: str) -> list[RecordingRow]:
    query = select(recordings).where(recordings.c.call_id == call_id)
    return [_row(r) for r in conn.execute(query.order_by(recordings.c.started_at))]


def recent_of_group(conn: Connection, group: str, limit: int) -> list[RecordingRow]:
    """The group's latest recordings (files deleted after retention included), newest first."""
    query = select(recordings).where(recordings.c.group_name == group)
    return [
        _row(r) for r in conn.execute(query.order_by(recordings.c.started_at.desc()).limit(limit))
    ]


def live_before(conn: Connection, before: datetime) -> list[RecordingRow]:
    """Recordings whose file is still there and that started before ``before``."""
    query = select(recordings).where(
        recordings.c.deleted_at.is_(None), recordings.c.started_at < before
    )
    return [_row(r) for r in conn.execute(query)]


def _row(row: Any) -> RecordingRow:
    return RecordingRow(
        id=row.id,
        call_id=row.call_id,
        server=row.server,
        agent=row.agent,
        group=row.group_name,
        started_at=row.started_at,
        ended_at=row.ended_at,
        pauses=tuple((float(a), None if b is None else float(b)) for a, b in row.pauses),
        deleted_at=row.deleted_at,
    )
