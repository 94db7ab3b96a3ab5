"""Channels into calls: the pure call tracker.

Fed :mod:`cti.core.events` values one at a time (:meth:`CallTracker.feed`), it returns the
:mod:`cti.core.updates` they cause. Channels join the call of their ``Linkedid`` (Asterisk gives
every channel created on behalf of a call the linkedid of the channel that started it); a
transfer moves the target's leg into the caller's call. Agent endpoints are told apart from
trunks by the ``is_agent`` predicate given at construction.

No I/O, no clock: every time comes from the events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cti.core import events as ev
from cti.core import snapshot as snap
from cti.core.recording import build_record
from cti.core.records import Direction, Outcome
from cti.core.state import IllegalTransition, LegState, Step, next_state
from cti.core.updates import (
    AgentRang,
    AgentRingEnded,
    CallAnswered,
    CallEnded,
    CallHoldChanged,
    CallQueued,
    CallStarted,
    CallState,
    CallTransferred,
    CallUpdate,
    CallView,
    RingEndReason,
)

__all__ = ["CallTracker", "TrackedCall", "TrackedLeg"]

_FAILED_DIAL = {"CHANUNAVAIL", "CONGESTION", "INVALIDARGS"}


@dataclass(slots=True)
class TrackedLeg:
    endpoint: str
    uniqueid: str
    state: LegState
    rang_at: float
    channel: str = ""  # the channel name (PJSIP/1001-0000002a), for AMI call control
    # Rang while the call's agent was still on it (the desktop's attended transfer, AMI Atxfer):
    # a consultation on the caller's linkedid until AttendedTransfer completes it.
    consult: bool = False


@dataclass(slots=True)
class TrackedCall:
    """Mutable working state of one call; only the tracker touches it."""

    call_id: str
    server: str
    origin: str  # uniqueid of the channel that started the call
    direction: Direction
    caller: ev.Party
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
    attached: set[str] = field(default_factory=set)  # every uniqueid ever in _by_channel for it
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


class CallTracker:
    """Correlate the channels of any number of Asterisk servers into calls."""

    def __init__(self, is_agent: Callable[[str], bool]) -> None:
        self._is_agent = is_agent
        self._calls: dict[str, TrackedCall] = {}
        self._by_channel: dict[tuple[str, str], str] = {}  # (server, uniqueid) -> call id
        self._endpoints: dict[tuple[str, str], str] = {}  # (server, uniqueid) -> endpoint
        self._names: dict[tuple[str, str], str] = {}  # (server, uniqueid) -> channel name
        self.anomalies = 0
        self._merged = 0  # calls merged into another (attended transfer) but not yet ended
        self._handlers: dict[type, Callable[[object], list[CallUpdate]]] = {
            ev.ChannelCreated: self._created,  # type: ignore[dict-item]
            ev.ChannelUpdated: self._updated,  # type: ignore[dict-item]
            ev.ChannelHungUp: self._hung_up,  # type: ignore[dict-item]
            ev.HangupRequested: self._hangup_requested,  # type: ignore[dict-item]
            ev.PbxShuttingDownChannel: self._pbx_shutting_down,  # type: ignore[dict-item]
            ev.DialBegan: self._dial_began,  # type: ignore[dict-item]
            ev.DialEnded: self._dial_ended,  # type: ignore[dict-item]
            ev.AgentCalled: self._agent_called,  # type: ignore[dict-item]
            ev.AgentRingNoAnswer: self._ring_no_answer,  # type: ignore[dict-item]
            ev.QueueCallerJoined: self._queue_joined,  # type: ignore[dict-item]
            ev.QueueCallerLeft: self._queue_left,  # type: ignore[dict-item]
            ev.QueueCallerAbandoned: self._queue_abandoned,  # type: ignore[dict-item]
            ev.HoldChanged: self._hold,  # type: ignore[dict-item]
            ev.BlindTransferred: self._blind_transfer,  # type: ignore[dict-item]
            ev.AttendedTransferred: self._attended_transfer,  # type: ignore[dict-item]
            ev.ChannelsListed: self._listed,  # type: ignore[dict-item]
        }

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

    def active_calls(self) -> list[CallView]:
        return [c.view() for c in self._calls.values() if c.merged_into is None]

    def is_live(self, call_id: str) -> bool:
        return call_id in self._calls

    def call_ids(self) -> list[str]:
        """The ids of the live calls (consultations merged into another left out)."""
        return [call_id for call_id, call in self._calls.items() if call.merged_into is None]

    def active_count(self) -> int:
        """How many calls are up: ``len(active_calls())`` without building a view of each."""
        return len(self._calls) - self._merged

    def channels_of(self, call_id: str) -> dict[str, str]:
        """The live channels of a call by role: ``caller`` and each agent endpoint.

        Call control (hangup, transfer) acts on these names through AMI.
        """
        call = self._calls.get(call_id)
        if call is None:
            return {}
        names = {}
        origin = self._names.get((call.server, call.origin))
        if origin:
            names["caller"] = origin
        for leg in call.legs.values():
            name = self._names.get((call.server, leg.uniqueid))
            if name and leg.state is not LegState.DONE:
                names[leg.endpoint] = name
        return names

    def snapshot(self, call_id: str) -> dict[str, object] | None:
        """The live call ``call_id`` as JSON-ready data (:mod:`cti.core.snapshot`), else None.

        None too for a consultation merged into another call: it ends without a record.
        """
        call = self._calls.get(call_id)
        if call is None or call.merged_into is not None:
            return None
        live = [
            snap.LiveChannel(uniqueid, self._endpoints.get(key, ""), self._names.get(key, ""))
            for uniqueid in sorted(call.channels)
            for key in [(call.server, uniqueid)]
        ]
        return snap.encode(call, live)

    def restore(self, data: dict[str, object]) -> list[CallUpdate]:
        """Take back a call saved by a previous run (see :meth:`snapshot`); return its updates.

        The updates (``CallStarted``, then who rings or has the call) let the pop layer show the
        call again. The next :class:`~cti.core.events.ChannelsListed` of the call's server
        decides its fate: channels gone are hung up (flag ``vanished``), and the call ends with
        its record; channels still there carry on. Raises :class:`~cti.core.snapshot.SnapshotError`
        for data that is not a snapshot; a call already tracked is left alone.
        """
        restored = snap.decode(data)
        fields = restored.fields
        if fields["call_id"] in self._calls:
            return []
        call = TrackedCall(**fields)
        call.flags.append("restored")
        for endpoint, uniqueid, state, rang_at, name, consult in restored.legs:
            call.legs[uniqueid] = TrackedLeg(endpoint, uniqueid, state, rang_at, name, consult)
        self._calls[call.call_id] = call
        for uniqueid in call.attached:
            self._by_channel.setdefault((call.server, uniqueid), call.call_id)
        for channel in restored.channels:
            key = (call.server, channel.uniqueid)
            self._by_channel[key] = call.call_id
            self._endpoints[key] = channel.endpoint
            self._names[key] = channel.name
            call.channels.add(channel.uniqueid)
            call.attached.add(channel.uniqueid)
        view = call.view()
        updates: list[CallUpdate] = [CallStarted(view)]
        updates += [
            AgentRang(view, leg.endpoint, leg.rang_at)
            for leg in call.legs.values()
            if leg.state is LegState.RINGING and leg.uniqueid != call.owner_leg
        ]
        if call.answered_at is not None:
            far_end = call.direction is Direction.OUTBOUND
            updates.append(CallAnswered(view, None if far_end else call.agent))
        return updates

    def call_of_channel(self, server: str, uniqueid: str) -> CallView | None:
        call_id = self._by_channel.get((server, uniqueid))
        return self._calls[call_id].view() if call_id in self._calls else None

    # ---------------------------------------------------------------------------- helpers
    def _call_for(self, server: str, channel: ev.Channel) -> TrackedCall | None:
        call_id = self._by_channel.get((server, channel.uniqueid))
        if call_id is None:
            call_id = self._by_channel.get((server, channel.linkedid))
        return self._calls.get(call_id) if call_id else None

    def _attach(self, call: TrackedCall, server: str, channel: ev.Channel) -> None:
        key = (server, channel.uniqueid)
        self._by_channel[key] = call.call_id
        self._endpoints[key] = channel.endpoint
        self._names[key] = channel.name
        call.channels.add(channel.uniqueid)
        call.attached.add(channel.uniqueid)
        self._refresh(call, channel)

    def _refresh(self, call: TrackedCall, channel: ev.Channel) -> None:
        """Take what a newer snapshot tells about the call (DID, trunk, caller name)."""
        if channel.did and not call.did:
            call.did = channel.did
            if call.direction is Direction.INBOUND and not call.called_number:
                call.called_number = channel.did
        if channel.trunk and not call.trunk:
            call.trunk = channel.trunk
        if channel.originate_id and not call.originate_id:
            call.originate_id = channel.originate_id
        inbound = call.direction is Direction.INBOUND
        if inbound and channel.uniqueid == call.origin and channel.caller.number:
            call.caller = channel.caller  # the dialplan may correct the caller id

    def _step(self, call: TrackedCall, step: Step) -> bool:
        try:
            call.state = next_state(
                call.state, step, ringing=bool(call.ringing()), queued=call.in_queue
            )
        except IllegalTransition:
            self.anomalies += 1
            return False
        return True

    def _new_call(self, server: str, channel: ev.Channel, at: float) -> TrackedCall:
        agent_origin = self._is_agent(channel.endpoint)
        direction = Direction.OUTBOUND if agent_origin else Direction.INBOUND
        call = TrackedCall(
            call_id=f"{server}:{channel.linkedid}",
            server=server,
            origin=channel.uniqueid,
            direction=direction,
            caller=channel.caller,  # an Originate's own caller id comes later
            started_at=at,
        )
        if agent_origin:
            call.agent = channel.endpoint
            call.owner_leg = channel.uniqueid
        self._calls[call.call_id] = call
        self._by_channel[(server, channel.linkedid)] = call.call_id
        call.attached.add(channel.linkedid)
        self._attach(call, server, channel)
        return call

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

    def _ring(
        self, call: TrackedCall, server: str, agent: ev.Channel, at: float
    ) -> list[CallUpdate]:
        """An agent endpoint started ringing for ``call`` (from DialBegin or AgentCalled)."""
        if agent.uniqueid in call.legs:
            return []
        if (server, agent.uniqueid) not in self._by_channel:
            self._attach(call, server, agent)
        endpoint = agent.endpoint
        leg = call.legs[agent.uniqueid] = TrackedLeg(endpoint, agent.uniqueid, LegState.RINGING, at)
        leg.consult = self._consulting(call, endpoint)
        own_phone = agent.uniqueid == call.owner_leg  # the agent's phone for click-to-dial
        if call.direction is Direction.OUTBOUND and call.owner_leg and not own_phone:
            call.direction = Direction.INTERNAL  # an agent's call to another agent
            call.called_number = call.called_number or _extension(endpoint)
        if endpoint not in call.rung:
            call.rung.append(endpoint)
        if call.transfer_from and call.transferred_from is None:
            call.transferred_from = call.transfer_from
        self._step(call, Step.RING)
        return [AgentRang(call.view(), endpoint, at)]

    @staticmethod
    def _consulting(call: TrackedCall, endpoint: str) -> bool:
        """Whether ``endpoint`` rings as a consultation: the call's agent is still on it.

        A blind transfer takes the agent off first (``transfer_from``); a queue or ringall
        rings before anyone answered. Only an attended transfer started from the agent's own
        channel (AMI ``Atxfer``) rings someone else while the agent is still in the call.
        """
        if call.answered_at is None or call.transfer_from or call.agent in (None, endpoint):
            return False
        return any(
            leg.endpoint == call.agent and leg.state is LegState.ANSWERED
            for leg in call.legs.values()
        )

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
            leg.state = LegState.CANCELLED  # why it stopped is told by what comes next
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

    def _far_end_ended(self, call: TrackedCall, status: str, at: float) -> list[CallUpdate]:
        if status == "ANSWER":
            call.answered_at = call.answered_at or at
            self._step(call, Step.ANSWER)
            return [CallAnswered(call.view(), None)]
        call.hint = call.hint or {
            "BUSY": Outcome.BUSY,
            "NOANSWER": Outcome.MISSED,
            "CANCEL": Outcome.ABANDONED,
        }.get(status, Outcome.FAILED)
        self._step(call, Step.RING_STOPPED)
        return []

    def _answered(self, call: TrackedCall, leg: TrackedLeg, at: float) -> list[CallUpdate]:
        leg.state = LegState.ANSWERED
        if leg.uniqueid == call.owner_leg:  # the agent picked up their own click-to-dial
            call.agent = leg.endpoint
            return []
        if leg.consult:  # the colleague talks to the agent; the caller is still the agent's
            return [CallAnswered(call.view(), leg.endpoint)]
        updates: list[CallUpdate] = []
        previous = call.agent if call.answered_at is not None else None
        call.answered_at = call.answered_at or at
        call.agent = leg.endpoint
        self._step(call, Step.ANSWER)
        updates.append(CallAnswered(call.view(), leg.endpoint))
        for other in list(call.legs.values()):
            if other is not leg and other.state in (LegState.RINGING, LegState.CANCELLED):
                updates += self._leg_done(call, other, RingEndReason.ANSWERED_ELSEWHERE)
        source = call.transfer_from or previous
        if source and source != leg.endpoint:
            call.transferred_from = source
            kind = "blind" if call.transfer_from else "attended"
            call.transfer_from = None
            updates.append(CallTransferred(call.view(), source, leg.endpoint, kind))
        return updates

    def _leg_done(
        self, call: TrackedCall, leg: TrackedLeg, reason: RingEndReason
    ) -> list[CallUpdate]:
        leg.state = LegState.DONE
        self._step(call, Step.RING_STOPPED)
        return [AgentRingEnded(call.view(), leg.endpoint, reason)]

    def _settle_cancelled(self, call: TrackedCall, reason: RingEndReason) -> list[CallUpdate]:
        updates: list[CallUpdate] = []
        for leg in list(call.legs.values()):
            if leg.state in (LegState.RINGING, LegState.CANCELLED):
                updates += self._leg_done(call, leg, reason)
        return updates

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
        if call is not None and "pbx_shutdown" not in call.flags:
            call.flags.append("pbx_shutdown")
        return []

    def _hung_up(self, e: ev.ChannelHungUp) -> list[CallUpdate]:
        key = (e.server, e.channel.uniqueid)
        call_id = self._by_channel.pop(key, None)
        self._endpoints.pop(key, None)
        self._names.pop(key, None)
        call = self._calls.get(call_id) if call_id else None
        if call is None:
            return []
        call.channels.discard(e.channel.uniqueid)
        updates: list[CallUpdate] = []
        leg = call.legs.get(e.channel.uniqueid)
        if e.channel.uniqueid == call.origin and call.answered_at is None:
            if call.hint is None and call.direction is Direction.INBOUND:
                call.abandoned = True
            updates += self._settle_cancelled(
                call, RingEndReason.ABANDONED if call.abandoned else RingEndReason.ENDED
            )
        if leg is not None and leg.state in (LegState.RINGING, LegState.CANCELLED):
            reason = RingEndReason.ABANDONED if call.abandoned else RingEndReason.NO_ANSWER
            updates += self._leg_done(call, leg, reason)
        elif leg is not None and leg.state is LegState.ANSWERED and leg.consult:
            updates += self._leg_done(call, leg, RingEndReason.ENDED)  # consultation dropped
        elif leg is not None and leg.state is LegState.ANSWERED:
            leg.state = LegState.DONE
            if call.agent == leg.endpoint and call.channels and call.transfer_from:
                call.agent = None
                self._step(call, Step.AGENT_LEFT)
        if not call.channels:
            updates += self._end(call, e.at)
        return updates

    def _end(self, call: TrackedCall, at: float) -> list[CallUpdate]:
        updates = self._settle_cancelled(call, RingEndReason.ENDED)
        if call.hold_since is not None:
            call.hold_seconds += at - call.hold_since
            call.hold_since = None
        call.ended_at = at
        self._step(call, Step.END)
        del self._calls[call.call_id]
        if call.merged_into is not None:
            self._merged -= 1
        # Only this call's own keys: scanning every live channel made a call's end cost grow
        # with the number of calls up at once.
        by_channel = self._by_channel
        for uniqueid in call.attached:
            key = (call.server, uniqueid)
            if by_channel.get(key) == call.call_id:
                del by_channel[key]
        record = None if call.merged_into else build_record(call)
        return [*updates, CallEnded(call.view(), record)]

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
        if call is None or leg is None or leg.state is LegState.DONE:
            return []
        if leg.state is LegState.ANSWERED:
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
        call.transfer_from = e.transferer.endpoint
        call.flags.append(f"blind_transfer:{e.transferer.endpoint}->{e.exten}")
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
        call.flags.append(f"attended_transfer:{e.orig_transferer.endpoint}->{target.endpoint}")
        endpoint = target.endpoint
        if endpoint not in call.rung:
            call.rung.append(endpoint)
        leg = TrackedLeg(endpoint, target.uniqueid, LegState.RINGING, e.at)
        if moved is not None:
            leg.rang_at = moved.rang_at
        call.legs[target.uniqueid] = leg
        for old in call.legs.values():
            if old.endpoint == e.orig_transferer.endpoint and old.state is LegState.ANSWERED:
                old.state = LegState.DONE
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
        source = e.orig_transferer.endpoint
        for old in call.legs.values():
            if old.endpoint == source and old.state is LegState.ANSWERED:
                old.state = LegState.DONE
        call.agent = leg.endpoint
        call.transferred_from = source
        call.flags.append(f"attended_transfer:{source}->{leg.endpoint}")
        if call.hold_since is not None:  # the agent held the caller to consult: that ends here
            call.hold_seconds += e.at - call.hold_since
            call.hold_since = None
        return [CallTransferred(call.view(), source, leg.endpoint, "attended")]

    # ---------------------------------------------------------------------------- resync
    def _listed(self, e: ev.ChannelsListed) -> list[CallUpdate]:
        """Reconcile with the channels the server has right after a (re)connect."""
        live = {item.channel.uniqueid: item for item in e.channels}
        updates: list[CallUpdate] = []
        for call in [c for c in self._calls.values() if c.server == e.server]:
            for uniqueid in sorted(call.channels - live.keys()):
                if "vanished" not in call.flags:
                    call.flags.append("vanished")
                hangup = _vanished(e.server, e.at, uniqueid, self._endpoints, call)
                updates += self._hung_up(hangup)
        # The channel that started each call first, so that the call's origin is the caller.
        origins_first = sorted(
            live.values(), key=lambda i: i.channel.uniqueid != i.channel.linkedid
        )
        for item in origins_first:
            updates += self._adopt(e.server, e.at, item)
        return updates

    def _catch_up(self, server: str, at: float, channel: ev.Channel) -> list[CallUpdate]:
        """A channel we track is listed Up: what happened to it while AMI was down.

        A leg still ringing here was answered in the dark (its DialEnd was lost with the
        connection); an outbound call's far end listed Up answered. The answer time is the
        resync's: the lost events are the only place the real one was.
        """
        call = self._call_for(server, channel)
        if call is None or channel.state is not ev.ChannelState.UP:
            return []
        self._refresh(call, channel)
        leg = call.legs.get(channel.uniqueid)
        if _never_answered(leg):
            assert leg is not None
            if "resynced_answer" not in call.flags:
                call.flags.append("resynced_answer")
            return self._answered(call, leg, at)
        far_end = (
            leg is None
            and call.direction is not Direction.INBOUND
            and channel.uniqueid not in (call.origin, call.owner_leg)
            and not self._is_agent(channel.endpoint)
            and call.answered_at is None
        )
        if far_end:
            return self._far_end_ended(call, "ANSWER", at)
        return []

    def _adopt(self, server: str, at: float, item: ev.ListedChannel) -> list[CallUpdate]:
        channel = item.channel
        if (server, channel.uniqueid) in self._by_channel:
            return self._catch_up(server, at, channel)
        started = at - item.duration_seconds
        call = self._call_for(server, channel)
        updates: list[CallUpdate] = []
        if call is None:
            call = self._new_call(server, channel, started)
            call.flags.append("adopted")
            if call.direction is Direction.OUTBOUND:
                _adopted_outbound(call, channel)
            updates.append(CallStarted(call.view()))
        else:
            self._attach(call, server, channel)
        if self._is_agent(channel.endpoint) and channel.uniqueid != call.owner_leg:
            if channel.state is ev.ChannelState.RINGING:
                updates += self._ring(call, server, channel, at)
            elif channel.state is ev.ChannelState.UP:
                leg = TrackedLeg(channel.endpoint, channel.uniqueid, LegState.RINGING, started)
                call.legs[channel.uniqueid] = leg
                call.rung.append(channel.endpoint)
                updates += self._answered(call, leg, started)
        return updates


def _adopted_outbound(call: TrackedCall, channel: ev.Channel) -> None:
    """An agent's call found at a resync: the agent's number calls, and a click-to-dial's
    channel still sits on the number dialled (its Originate's exten); by then the dialplan may
    have given the channel the trunk's outbound caller id."""
    extension = _extension(channel.endpoint)
    if channel.caller.number != extension:
        call.caller = ev.Party(number=extension)
    if channel.originate_id and channel.exten not in ("", "s"):
        call.called_number = channel.exten


def _never_answered(leg: TrackedLeg | None) -> bool:
    return leg is not None and leg.state in (LegState.RINGING, LegState.CANCELLED)


def _vanished(
    server: str, at: float, uniqueid: str, endpoints: dict[tuple[str, str], str], call: TrackedCall
) -> ev.ChannelHungUp:
    """A hangup standing in for a channel that disappeared while we were not connected."""
    endpoint = endpoints.get((server, uniqueid), "")
    channel = ev.Channel(
        name=f"{endpoint}-vanished" if endpoint else uniqueid,
        uniqueid=uniqueid,
        linkedid=call.call_id.split(":", 1)[1],
        state=ev.ChannelState.DOWN,
        caller=ev.Party(),
        connected=ev.Party(),
    )
    return ev.ChannelHungUp(server=server, at=at, channel=channel, cause=0, cause_text="vanished")


def _extension(endpoint: str) -> str:
    return endpoint.rsplit("/", 1)[-1]
