"""The missed-calls table's statements; each function runs in one transaction it is handed.

Called on the store's threads (``Store.aio.run``), never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cti.missed_calls.missed import MissedCall
from cti.store.missed_call_tables import missed_calls

__all__ = ["add_missed", "list_missed", "mark_seen", "prune_missed", "unseen_counts"]

#: The newest entries an agent's list shows; older ones stay until pruned.
LIST_LIMIT = 100


def add_missed(conn: Connection, entries: Sequence[MissedCall]) -> None:
    """Insert ``entries``; an (agent, call) already there is left as it is."""
    if not entries:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "agent": e.agent,
            "call_id": e.call_id,
            "caller_number": e.caller_number[:64],
            "caller_name": e.caller_name[:200],
            "direction": e.direction,
            "queue": e.queue,
            "did": e.did,
            "rang_at": e.rang_at,
            "ended_at": e.ended_at,
        }
        for e in entries
    ]
    statement = insert(missed_calls).on_conflict_do_nothing(index_elements=["agent", "call_id"])
    conn.execute(statement, rows)


def unseen_counts(conn: Connection, agents: Iterable[str]) -> dict[str, int]:
    """How many unseen missed calls each of ``agents`` has (0 included)."""
    wanted = sorted(set(agents))
    counts = dict.fromkeys(wanted, 0)
    if not wanted:
        return counts
    query = (
        select(missed_calls.c.agent, func.count())
        .where(missed_calls.c.agent.in_(wanted), missed_calls.c.seen_at.is_(None))
        .group_by(missed_calls.c.agent)
    )
    counts.update({agent: int(n) for agent, n in conn.execute(query)})
    return counts


def list_missed(conn: Connection, agent: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The agent's newest missed calls, newest first, as the API shows them."""
    c = missed_calls.c
    query = select(missed_calls).where(c.agent == agent).order_by(c.id.desc()).limit(limit)
    return [
        {
            "id": row.id,
            "call_id": row.call_id,
            "caller_number": row.caller_number,
            "caller_name": row.caller_name,
            "direction": row.direction,
            "queue": row.queue,
            "did": row.did,
            "rang_at": row.rang_at.isoformat(),
            "ended_at": row.ended_at.isoformat(),
            "seen": row.seen_at is not None,
        }
        for row in conn.execute(query)
    ]


def mark_seen(conn: Connection, agent: str, ids: Sequence[int] | None, now: datetime) -> int:
    """Mark ``ids`` (all of the agent's when None) seen; return how many of ``ids`` are not the
    agent's (the caller refuses the request and rolls back then). Seen ones stay seen."""
    c = missed_calls.c
    mine = c.agent == agent
    if ids is not None:
        found = conn.execute(select(func.count()).where(mine, c.id.in_(ids))).scalar_one()
        if found != len(ids):
            return len(ids) - int(found)
        mine = and_(mine, c.id.in_(ids))
    conn.execute(update(missed_calls).where(mine, c.seen_at.is_(None)).values(seen_at=now))
    return 0


def prune_missed(conn: Connection, before: datetime) -> int:
    """Delete entries of calls that ended before ``before`` (the retention)."""
    done = conn.execute(delete(missed_calls).where(missed_calls.c.ended_at < before))
    return int(done.rowcount or 0)
