"""The tracker's working state of one call and of each agent leg in it.

Only the tracker (and its resync) change these; everything past the core sees a call as the
frozen :class:`~cti.core.updates.CallView` that :meth:`TrackedCall.view` returns, and an ended
call as its :class:`~cti.core.records.CallRecord` (:mod:`cti.core.recording`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.core.events import Party
from cti.core.records import Direction, Outcome
from cti.core.state import LegState, LegStep, next_leg_state
from cti.core.updates import CallState, CallView

__all__ = ["UNANSWERED", "TrackedCall", "TrackedLeg", "extension"]

UNANSWERED = (LegState.RINGING, LegState.CANCELLED)  # a leg that rang and nobody picked up yet


@dataclass(slots=True)
class TrackedLeg:
    """One agent endpoint's part in a call; born RINGING, moved on by :meth:`step`."""

    endpoint: str
    uniqueid: str
    state: LegState
    rang_at: float
    channel: str = ""  # the channel name (PJSIP/1001-0000002a), for AMI call control
    # Rang while the call's agent was still on it (the desktop's attended transfer, AMI Atxfer):
    # a consultation on the caller's linkedid until AttendedTransfer completes it.
    consult: bool = False

    def step(self, step: LegStep) -> None:
        """Move the leg on by ``step`` (:data:`~cti.core.state.LEG_TRANSITIONS`).

        Raises :class:`~cti.core.state.IllegalTransition`, the leg unchanged, for a step the
        table does not allow from its state.
        """
        self.state = next_leg_state(self.state, step)


@dataclass(slots=True)
class TrackedCall:
    """Mutable working state of one call; only the tracker touches it."""

    call_id: str
    server: str
    origin: str  # uniqueid of the channel that started the call
    direction: Direction
    caller: Party
    started_at: float
    state: CallState = CallState.NEW
    called_number: str = ""
    did: str | None = None
    trunk: str | None = None
    queue: str | None = None
    in_queue: bool = False
    queued_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    agent: str | None = None
    owner_leg: str | None = None  # the originating agent leg of an outbound call
    legs: dict[str, TrackedLeg] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)
    attached: set[str] = field(default_factory=set)  # every uniqueid ever indexed for it
    rung: list[str] = field(default_factory=list)
    hold_since: float | None = None
    hold_seconds: float = 0.0
    abandoned: bool = False
    hint: Outcome | None = None
    transfer_from: str | None = None
    transferred_from: str | None = None
    merged_into: str | None = None
    originate_id: str | None = None
    flags: list[str] = field(default_factory=list)

    def ringing(self) -> list[str]:
        return [leg.endpoint for leg in self.legs.values() if leg.state is LegState.RINGING]

    def flag(self, name: str) -> None:
        """Add ``name`` to the call's flags once."""
        if name not in self.flags:
            self.flags.append(name)

    def view(self) -> CallView:
        return CallView(
            call_id=self.call_id,
            server=self.server,
            direction=self.direction,
            state=self.state,
            caller=self.caller,
            called_number=self.called_number,
            did=self.did,
            trunk=self.trunk,
            queue=self.queue,
            started_at=self.started_at,
            answered_at=self.answered_at,
            agent=self.agent,
            ringing=tuple(self.ringing()),
            transferred_from=self.transferred_from,
            originate_id=self.originate_id,
            flags=tuple(self.flags),
        )


def extension(endpoint: str) -> str:
    """The extension of an endpoint: ``1001`` for ``PJSIP/1001``."""
    return endpoint.rsplit("/", 1)[-1]
