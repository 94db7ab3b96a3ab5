"""Channels into calls: the pure call tracker.

Fed :mod:`cti.core.events` values one at a time (:meth:`CallTracker.feed`), it returns the
:mod:`cti.core.updates` they cause. Channels join the call of their ``Linkedid`` (Asterisk gives
every channel created on behalf of a call the linkedid of the channel that started it); a
transfer moves the target's leg into the caller's call. Agent endpoints are told apart from
trunks by the ``is_agent`` predicate given at construction.

This module maps each event type to its handler; the calls, their index by channel and the
steps the handlers share live in :mod:`cti.core.ledger`, the resync with a server's channel
listing and the restore of a saved call in :mod:`cti.core.resync`, and every call and leg
transition in the tables of :mod:`cti.core.state`.

No I/O, no clock: every time comes from the events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from cti.core import events as ev
from cti.core import resync
from cti.core.calls import UNANSWERED, TrackedCall, TrackedLeg
from cti.core.ledger import CallLedger
from cti.core.records import Direction, Outcome
from cti.core.state import LegState, LegStep, Step
from cti.core.updates import (
    CallHoldChanged,
    CallQueued,
    CallStarted,
    CallTransferred,
    CallUpdate,
    RingEndReason,
)

__all__ = ["CallTracker", "TrackedCall", "TrackedLeg"]

_FAILED_DIAL = {"CHANUNAVAIL", "CONGESTION", "INVALIDARGS"}

_E = TypeVar("_E", bound=ev.PbxEvent)


class CallTracker(CallLedger):
    """Correlate the channels of any number of Asterisk servers into calls."""

    def __init__(
        self, is_agent: Callable[[str], bool], phone_of: Callable[[str], str] | None = None
    ) -> None:
        super().__init__(is_agent, phone_of)
        # Filled by _on only, which checks each handler against its event type; feed looks a
        # handler up by the event's exact type (one dict lookup, no isinstance chain).
        self._handlers: dict[type[ev.PbxEvent], Callable[[Any], list[CallUpdate]]] = {}
        on = self._on
        on(ev.ChannelCreated, self._created)
        on(ev.ChannelUpdated, self._updated)
        on(ev.ChannelHungUp, self._hung_up)
        on(ev.HangupRequested, self._hangup_requested)
        on(ev.PbxShuttingDownChannel, self._pbx_shutting_down)
        on(ev.DialBegan, self._dial_began)
        on(ev.DialEnded, self._dial_ended)
        on(ev.AgentCalled, self._agent_called)
        on(ev.AgentRingNoAnswer, self._ring_no_answer)
        on(ev.QueueCallerJoined, self._queue_joined)
        on(ev.QueueCallerLeft, self._queue_left)
        on(ev.QueueCallerAbandoned, self._queue_abandoned)
        on(ev.HoldChanged, self._hold)
        on(ev.BlindTransferred, self._blind_transfer)
        on(ev.AttendedTransferred, self._attended_transfer)
        on(ev.ChannelsListed, self._listed)

    def _on(self, kind: type[_E], handler: Callable[[_E], list[CallUpdate]]) -> None:
        """Handle events of type ``kind`` (exactly: subclasses are not) with ``handler``."""
        self._handlers[kind] = handler

    # ---------------------------------------------------------------------------- public
    def feed(self, event: ev.PbxEvent) -> list[CallUpdate]:
        """Apply one event; return the updates it causes, in order."""
        handler = self._handlers.get(type(event))
        return handler(event) if handler else []

    def feed_all(self, events: Iterable[ev.PbxEvent]) -> list[CallUpdate]:
        updates: list[CallUpdate] = []
        for event in events:
            updates.extend(self.feed(event))
        return updates

    def restore(self, data: dict[str, object]) -> list[CallUpdate]:
        """Take back a call saved by a previous run (see :meth:`snapshot`); return its updates.

        The updates (``CallStarted``, then who rings or has the call) let the pop layer show the
        call again. The next :class:`~cti.core.events.ChannelsListed` of the call's server
        decides its fate: channels gone are hung up (flag ``vanished``), and the call ends with
        its record; channels still there carry on. Raises :class:`~cti.core.snapshot.SnapshotError`
        for data that is not a snapshot; a call already tracked is left alone.
        """
        return resync.restore(self, data)

    # ---------------------------------------------------------------------------- channels
    def _created(self, e: ev.ChannelCreated) -> list[CallUpdate]:
        if (e.server, e.channel.uniqueid) in self._by_channel:
            return []
        call = self._call_for(e.server, e.channel)
        if call is not None:
            self._attach(call, e.server, e.channel)
            return []
        call = self._new_call(e.server, e.channel, e.at)
        return [CallStarted(call.view())]

    def _updated(self, e: ev.ChannelUpdated) -> list[CallUpdate]:
        call = self._call_for(e.server, e.channel)
        if call is not None:
            self._refresh(call, e.channel)
        return []

    def _hangup_requested(self, e: ev.HangupRequested) -> list[CallUpdate]:
        call = self._call_for(e.server, e.channel)
        if call is None or e.channel.uniqueid != call.origin or call.answered_at is not None:
            return []
        if call.hint is None:  # the caller left before anyone answered
            call.abandoned = True
        return []

    def _pbx_shutting_down(self, e: ev.PbxShuttingDownChannel) -> list[CallUpdate]:
        """The PBX hangs the channel up as it shuts down: the call's record says so."""
        call = self._call_for(e.server, e.channel)
        if call is not None:
            call.flag("pbx_shutdown")
        return []

    def _listed(self, e: ev.ChannelsListed) -> list[CallUpdate]:
        return resync.reconcile(self, e)

    # ---------------------------------------------------------------------------- dial
    def _dial_began(self, e: ev.DialBegan) -> list[CallUpdate]:
        callee = e.callee
        call = self._call_for(e.server, e.caller) if e.caller else None
        call = call or self._call_for(e.server, callee)
        if call is None:  # an Originate's first leg: its Newchannel started the call
            return self._created(ev.ChannelCreated(server=e.server, at=e.at, channel=callee))
        if self._is_agent(callee.endpoint):
            return self._ring(call, e.server, callee, e.at)
        # The far end of an outbound call (a trunk) starts ringing.
        if (e.server, callee.uniqueid) not in self._by_channel:
            self._attach(call, e.server, callee)
        if call.direction is not Direction.INBOUND and not call.called_number:
            call.called_number = e.dial_string.split("@", 1)[0].rsplit("/", 1)[-1]
        self._step(call, Step.RING)
        return []

    def _dial_ended(self, e: ev.DialEnded) -> list[CallUpdate]:  # noqa: PLR0911 (one per status)
        call = self._call_for(e.server, e.callee)
        if call is None:
            return []
        leg = call.legs.get(e.callee.uniqueid)
        status = e.status.upper()
        if leg is None and e.callee.name.startswith("Local/"):
            return []  # the dialplan's own half-channel (an Atxfer consultation): not a party
        if leg is None:  # the far end of an outbound call
            return self._far_end_ended(call, status, e.at)
        if leg.state is not LegState.RINGING:
            return []
        if status == "ANSWER":
            return self._answered(call, leg, e.at)
        if status == "CANCEL" and call.abandoned:
            return self._leg_done(call, leg, RingEndReason.ABANDONED)
        if status == "CANCEL" and call.answered_at is None:
            self._leg_step(leg, LegStep.CANCEL)  # why it stopped is told by what comes next
            return []
        reason = {
            "BUSY": RingEndReason.REJECTED,
            "CANCEL": RingEndReason.ANSWERED_ELSEWHERE,
        }.get(status, RingEndReason.NO_ANSWER)
        if status == "BUSY":
            call.hint = call.hint or Outcome.BUSY
        elif status == "NOANSWER":
            call.hint = call.hint or Outcome.MISSED
        elif status in _FAILED_DIAL:
            call.hint = call.hint or Outcome.FAILED
        return self._leg_done(call, leg, reason)

    # ---------------------------------------------------------------------------- queues
    def _queue_joined(self, e: ev.QueueCallerJoined) -> list[CallUpdate]:
        call = self._call_for(e.server, e.channel)
        if call is None:
            return []
        self._refresh(call, e.channel)
        call.queue, call.in_queue = e.queue, True
        call.queued_at = call.queued_at or e.at
        self._step(call, Step.QUEUE)
        return [CallQueued(call.view(), e.queue)]

    def _queue_left(self, e: ev.QueueCallerLeft) -> list[CallUpdate]:
        call = self._call_for(e.server, e.channel)
        if call is not None:
            call.in_queue = False
            if call.answered_at is None and not call.abandoned:
                call.hint = call.hint or Outcome.MISSED  # the queue gave up (timeout, empty)
        return []

    def _queue_abandoned(self, e: ev.QueueCallerAbandoned) -> list[CallUpdate]:
        call = self._call_for(e.server, e.channel)
        if call is None:
            return []
        call.abandoned = True
        return self._settle_cancelled(call, RingEndReason.ABANDONED)

    def _agent_called(self, e: ev.AgentCalled) -> list[CallUpdate]:
        call = self._call_for(e.server, e.caller)
        return self._ring(call, e.server, e.agent, e.at) if call else []

    def _ring_no_answer(self, e: ev.AgentRingNoAnswer) -> list[CallUpdate]:
        call = self._call_for(e.server, e.caller)
        leg = call.legs.get(e.agent.uniqueid) if call else None
        if call is None or leg is None or leg.state not in UNANSWERED:
            return []
        return self._leg_done(call, leg, RingEndReason.NO_ANSWER)

    # ---------------------------------------------------------------------------- in-call
    def _hold(self, e: ev.HoldChanged) -> list[CallUpdate]:
        call = self._call_for(e.server, e.channel)
        if call is None or call.answered_at is None:
            return []
        if e.held and call.hold_since is None:
            call.hold_since = e.at
        elif not e.held and call.hold_since is not None:
            call.hold_seconds += e.at - call.hold_since
            call.hold_since = None
        else:
            return []
        return [CallHoldChanged(call.view(), e.held)]

    def _blind_transfer(self, e: ev.BlindTransferred) -> list[CallUpdate]:
        call = self._call_for(e.server, e.transferer)
        if call is None or e.result.lower() != "success":
            return []
        call.transfer_from = self._phone_of(e.transferer.endpoint)
        call.flags.append(f"blind_transfer:{call.transfer_from}->{e.exten}")
        return []

    def _attended_transfer(self, e: ev.AttendedTransferred) -> list[CallUpdate]:
        if e.result.lower() != "success":
            return []
        call = self._call_for(e.server, e.orig_transferer)
        target = e.transfer_target
        consult = self._call_for(e.server, target) if target is not None else call
        if consult is call:  # an Atxfer: the consultation rang on the caller's own call
            return self._consultation_completed(e)
        if call is None or consult is None or target is None:
            return []
        moved = consult.legs.pop(target.uniqueid, None)
        consult.channels.discard(target.uniqueid)
        if consult.merged_into is None:
            self._merged += 1
        consult.merged_into = call.call_id
        self._attach(call, e.server, target)
        source, endpoint = (self._phone_of(c.endpoint) for c in (e.orig_transferer, target))
        call.flags.append(f"attended_transfer:{source}->{endpoint}")
        if endpoint not in call.rung:
            call.rung.append(endpoint)
        leg = TrackedLeg(endpoint, target.uniqueid, LegState.RINGING, e.at)
        if moved is not None:
            leg.rang_at = moved.rang_at
        call.legs[target.uniqueid] = leg
        self._transferer_left(call, source)
        return self._answered(call, leg, e.at)

    def _consultation_completed(self, e: ev.AttendedTransferred) -> list[CallUpdate]:
        """An Atxfer consultation on the caller's own call completed: its colleague takes it."""
        call = self._call_for(e.server, e.orig_transferer)
        if call is None:
            return []
        consulted = [
            leg for leg in call.legs.values() if leg.consult and leg.state is LegState.ANSWERED
        ]
        if not consulted:
            return []
        leg = consulted[-1]
        for other in consulted:
            other.consult = False
        source = self._phone_of(e.orig_transferer.endpoint)
        self._transferer_left(call, source)
        call.agent = leg.endpoint
        call.transferred_from = source
        call.flags.append(f"attended_transfer:{source}->{leg.endpoint}")
        if call.hold_since is not None:  # the agent held the caller to consult: that ends here
            call.hold_seconds += e.at - call.hold_since
            call.hold_since = None
        return [CallTransferred(call.view(), source, leg.endpoint, "attended")]

    def _transferer_left(self, call: TrackedCall, endpoint: str) -> None:
        """The agent who completed an attended transfer is off the call: their legs are done."""
        for old in call.legs.values():
            if old.endpoint == endpoint and old.state is LegState.ANSWERED:
                self._leg_step(old, LegStep.HANG_UP)
