"""The live calls, indexed by channel, and the steps that every source of events takes on them.

:class:`CallLedger` is what the tracker knows: each call's working state
(:class:`~cti.core.calls.TrackedCall`) and which call each channel belongs to, on any number of
Asterisk servers. Its steps (attach a channel, ring a leg, answer, hang up, end the call) are
shared by the live event handlers (:class:`~cti.core.tracker.CallTracker`) and by the resync
with a server's channel listing (:mod:`cti.core.resync`). Every change of a call's or a leg's
state goes through :meth:`CallLedger._step` or :meth:`CallLedger._leg_step`, that is through
the tables in :mod:`cti.core.state`; an illegal one is counted in ``anomalies`` and changes
nothing.

No I/O, no clock: every time comes from the events.
"""

from __future__ import annotations

from collections.abc import Callable

from cti.core import events as ev
from cti.core import snapshot as snap
from cti.core.calls import UNANSWERED, TrackedCall, TrackedLeg, extension
from cti.core.recording import build_record
from cti.core.records import Direction, Outcome
from cti.core.state import IllegalTransition, LegState, LegStep, Step, next_state
from cti.core.updates import (
    AgentRang,
    AgentRingEnded,
    CallAnswered,
    CallEnded,
    CallTransferred,
    CallUpdate,
    CallView,
    RingEndReason,
)

__all__ = ["CallLedger"]


def _same(endpoint: str) -> str:
    return endpoint


class CallLedger:
    """The calls of any number of Asterisk servers, by channel; the tracker's state.

    ``phone_of`` names the agent phone a channel's endpoint rings for: a device added by MAC
    (``PJSIP/d<mac>``, rung with its agent's desk phone) is counted as that agent's endpoint
    (``PJSIP/1001``), as the browser phone is (:func:`~cti.core.events.endpoint_of`), so the
    agent rings once whichever of their phones ring and answers whichever picks up. The
    composition root gives the directory's mapping; the default keeps every endpoint its own.
    """

    def __init__(
        self, is_agent: Callable[[str], bool], phone_of: Callable[[str], str] | None = None
    ) -> None:
        self._is_agent = is_agent
        self._phone_of = phone_of or _same
        self._calls: dict[str, TrackedCall] = {}
        self._by_channel: dict[tuple[str, str], str] = {}  # (server, uniqueid) -> call id
        self._endpoints: dict[tuple[str, str], str] = {}  # (server, uniqueid) -> endpoint
        self._names: dict[tuple[str, str], str] = {}  # (server, uniqueid) -> channel name
        self.anomalies = 0
        self._merged = 0  # calls merged into another (attended transfer) but not yet ended

    # ---------------------------------------------------------------------------- queries
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

    def call_of_channel(self, server: str, uniqueid: str) -> CallView | None:
        call_id = self._by_channel.get((server, uniqueid))
        return self._calls[call_id].view() if call_id in self._calls else None

    def forget_server(self, server: str) -> list[str]:
        """Drop every call of ``server`` without ending it; return their ids.

        For a cluster node that lost the server's AMI lease: another node tracks these calls
        now (from the snapshots in the store) and writes their records; here they would only
        go stale. No update is returned, so nothing is popped, saved or recorded.
        """
        gone = [call_id for call_id, call in self._calls.items() if call.server == server]
        for call_id in gone:
            if self._calls.pop(call_id).merged_into is not None:
                self._merged -= 1
        for index in (self._by_channel, self._endpoints, self._names):
            for key in [key for key in index if key[0] == server]:
                del index[key]
        return gone

    # ---------------------------------------------------------------------------- index
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
            call.agent = self._phone_of(channel.endpoint)
            call.owner_leg = channel.uniqueid
        self._calls[call.call_id] = call
        self._by_channel[(server, channel.linkedid)] = call.call_id
        call.attached.add(channel.linkedid)
        self._attach(call, server, channel)
        return call

    # ---------------------------------------------------------------------------- transitions
    def _step(self, call: TrackedCall, step: Step) -> bool:
        try:
            call.state = next_state(
                call.state, step, ringing=bool(call.ringing()), queued=call.in_queue
            )
        except IllegalTransition:
            self.anomalies += 1
            return False
        return True

    def _leg_step(self, leg: TrackedLeg, step: LegStep) -> bool:
        try:
            leg.step(step)
        except IllegalTransition:
            self.anomalies += 1
            return False
        return True

    # ---------------------------------------------------------------------------- legs
    def _ring(
        self, call: TrackedCall, server: str, agent: ev.Channel, at: float
    ) -> list[CallUpdate]:
        """An agent endpoint started ringing for ``call`` (from DialBegin or AgentCalled)."""
        if agent.uniqueid in call.legs:
            return []
        if (server, agent.uniqueid) not in self._by_channel:
            self._attach(call, server, agent)
        endpoint = self._phone_of(agent.endpoint)
        twin = any(o.endpoint == endpoint and o.state in UNANSWERED for o in call.legs.values())
        leg = call.legs[agent.uniqueid] = TrackedLeg(endpoint, agent.uniqueid, LegState.RINGING, at)
        if twin:  # the agent's other phone (desk, browser, device ring together): rings already
            return []
        leg.consult = _consulting(call, endpoint)
        own_phone = agent.uniqueid == call.owner_leg  # the agent's phone for click-to-dial
        if call.direction is Direction.OUTBOUND and call.owner_leg and not own_phone:
            call.direction = Direction.INTERNAL  # an agent's call to another agent
            call.called_number = call.called_number or extension(endpoint)
        if endpoint not in call.rung:
            call.rung.append(endpoint)
        if call.transfer_from and call.transferred_from is None:
            call.transferred_from = call.transfer_from
        self._step(call, Step.RING)
        return [AgentRang(call.view(), endpoint, at)]

    def _answered(self, call: TrackedCall, leg: TrackedLeg, at: float) -> list[CallUpdate]:
        if not self._leg_step(leg, LegStep.ANSWER):
            return []
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
            if other is leg or other.state not in UNANSWERED:
                continue
            if other.endpoint == leg.endpoint:  # the agent's other phone: the agent answered
                self._leg_step(other, LegStep.RING_STOPPED)
                continue
            updates += self._leg_done(call, other, RingEndReason.ANSWERED_ELSEWHERE)
        source = call.transfer_from or previous
        if source and source != leg.endpoint:
            call.transferred_from = source
            kind = "blind" if call.transfer_from else "attended"
            call.transfer_from = None
            updates.append(CallTransferred(call.view(), source, leg.endpoint, kind))
        return updates

    def _leg_done(
        self,
        call: TrackedCall,
        leg: TrackedLeg,
        reason: RingEndReason,
        step: LegStep = LegStep.RING_STOPPED,
    ) -> list[CallUpdate]:
        """The leg is over (``step``): the desktop stops showing it ring (or consult).

        While another phone of the same agent (desk and browser) still rings, the agent's
        desktop goes on ringing: only the last of their legs to stop says why it stopped.
        """
        if not self._leg_step(leg, step):
            return []
        twins = [
            other
            for other in call.legs.values()
            if other is not leg and other.endpoint == leg.endpoint and other.state in UNANSWERED
        ]
        if twins:
            return []
        self._step(call, Step.RING_STOPPED)
        return [AgentRingEnded(call.view(), leg.endpoint, reason)]

    def _settle_cancelled(self, call: TrackedCall, reason: RingEndReason) -> list[CallUpdate]:
        updates: list[CallUpdate] = []
        for leg in list(call.legs.values()):
            if leg.state in UNANSWERED:
                updates += self._leg_done(call, leg, reason)
        return updates

    def _far_end_ended(self, call: TrackedCall, status: str, at: float) -> list[CallUpdate]:
        """The far end of an outbound call (a trunk, no leg of ours) stopped ringing."""
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

    # ---------------------------------------------------------------------------- hangups
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
        if leg is not None and leg.state in UNANSWERED:
            reason = RingEndReason.ABANDONED if call.abandoned else RingEndReason.NO_ANSWER
            updates += self._leg_done(call, leg, reason)
        elif leg is not None and leg.state is LegState.ANSWERED and leg.consult:
            # The consultation dropped: the desktop stops showing the colleague.
            updates += self._leg_done(call, leg, RingEndReason.ENDED, LegStep.HANG_UP)
        elif leg is not None and leg.state is LegState.ANSWERED:
            self._leg_step(leg, LegStep.HANG_UP)
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


def _consulting(call: TrackedCall, endpoint: str) -> bool:
    """Whether ``endpoint`` rings as a consultation: the call's agent is still on it.

    A blind transfer takes the agent off first (``transfer_from``); a queue or ringall
    rings before anyone answered. Only an attended transfer started from the agent's own
    channel (AMI ``Atxfer``) rings someone else while the agent is still in the call.
    """
    if call.answered_at is None or call.transfer_from or call.agent in (None, endpoint):
        return False
    return any(
        leg.endpoint == call.agent and leg.state is LegState.ANSWERED for leg in call.legs.values()
    )
