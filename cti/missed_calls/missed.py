"""Which agents a finished call was missed by: pure, fed the tracker's ``CallEnded`` updates.

A call is missed by every agent whose phone rang for it when no agent answered it: the caller
hung up while it rang (abandoned), the queue or the dialplan gave up, every phone declined.
Calls the agent placed (outbound, including the agent's own phone ringing for click-to-dial)
are never missed calls, and a call someone answered is missed by no one, even by the agents
it rang first. An agent whose desk phone and browser phone both rang misses it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from cti.core.records import CallRecord, Direction
from cti.core.updates import CallEnded, CallUpdate

__all__ = ["MissedCall", "missed_calls_of"]


@dataclass(frozen=True, slots=True)
class MissedCall:
    """One call one agent missed (a row of the agent's list)."""

    agent: str
    call_id: str
    caller_number: str
    caller_name: str
    direction: str
    queue: str | None
    did: str | None
    rang_at: datetime
    ended_at: datetime


def missed_calls_of(
    updates: Iterable[CallUpdate], owners: Callable[[str], tuple[str, ...]]
) -> list[MissedCall]:
    """The missed calls the ``CallEnded`` among ``updates`` decide; ``owners`` maps an
    endpoint (``PJSIP/1001``) to the agents whose phone it is."""
    missed: list[MissedCall] = []
    for update in updates:
        if isinstance(update, CallEnded) and update.record is not None:
            missed.extend(_missed(update.record, owners))
    return missed


def _missed(record: CallRecord, owners: Callable[[str], tuple[str, ...]]) -> list[MissedCall]:
    if record.direction is Direction.OUTBOUND or record.answered_by is not None:
        return []
    agents: dict[str, None] = {}  # in ring order, each once
    for endpoint in record.agents_rung:
        for agent in owners(endpoint):
            agents.setdefault(agent)
    return [
        MissedCall(
            agent=agent,
            call_id=record.call_id,
            caller_number=record.caller_number,
            caller_name=record.caller_name,
            direction=record.direction.value,
            queue=record.queue,
            did=record.did,
            rang_at=record.started_at,
            ended_at=record.ended_at,
        )
        for agent in agents
    ]
