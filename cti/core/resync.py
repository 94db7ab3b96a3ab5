"""Take calls back after the tracker lost sight of them: a server's channel listing, a restart.

After a (re)connect the AMI adapter lists the server's channels
(:class:`~cti.core.events.ChannelsListed`, from AMI ``CoreShowChannels``): :func:`reconcile`
hangs up the tracked channels that went away in the dark (flag ``vanished``), catches up on the
ones still there (a leg answered while AMI was down: flag ``resynced_answer``) and adopts the
channels it never saw (flag ``adopted``). :func:`restore` takes back a call saved by a previous
run of the daemon (flag ``restored``); the next listing of its server decides its fate.

Both act on the tracker's :class:`~cti.core.ledger.CallLedger` through its steps, the same ones
the live event handlers take, so a resynced call ends with the same updates and record.
"""

from __future__ import annotations

from cti.core import events as ev
from cti.core import snapshot as snap
from cti.core.calls import UNANSWERED, TrackedCall, TrackedLeg, extension
from cti.core.ledger import CallLedger
from cti.core.records import Direction
from cti.core.state import LegState
from cti.core.updates import AgentRang, CallAnswered, CallStarted, CallUpdate

__all__ = ["reconcile", "restore"]


def reconcile(ledger: CallLedger, e: ev.ChannelsListed) -> list[CallUpdate]:
    """Reconcile with the channels the server has right after a (re)connect."""
    live = {item.channel.uniqueid: item for item in e.channels}
    updates: list[CallUpdate] = []
    for call in [c for c in ledger._calls.values() if c.server == e.server]:
        for uniqueid in sorted(call.channels - live.keys()):
            call.flag("vanished")
            hangup = _vanished(e.server, e.at, uniqueid, ledger._endpoints, call)
            updates += ledger._hung_up(hangup)
    # The channel that started each call first, so that the call's origin is the caller.
    origins_first = sorted(live.values(), key=lambda i: i.channel.uniqueid != i.channel.linkedid)
    for item in origins_first:
        updates += _adopt(ledger, e.server, e.at, item)
    return updates


def restore(ledger: CallLedger, data: dict[str, object]) -> list[CallUpdate]:
    """Take back a call saved by a previous run (see :meth:`CallLedger.snapshot`).

    Return its updates (``CallStarted``, then who rings or has the call), so that the pop layer
    shows the call again. Raises :class:`~cti.core.snapshot.SnapshotError` for data that is not
    a snapshot; a call already tracked is left alone.
    """
    restored = snap.decode(data)
    fields = restored.fields
    if fields["call_id"] in ledger._calls:
        return []
    call = TrackedCall(**fields)
    call.flags.append("restored")
    for endpoint, uniqueid, state, rang_at, name, consult in restored.legs:
        call.legs[uniqueid] = TrackedLeg(endpoint, uniqueid, state, rang_at, name, consult)
    ledger._calls[call.call_id] = call
    for uniqueid in call.attached:
        ledger._by_channel.setdefault((call.server, uniqueid), call.call_id)
    for channel in restored.channels:
        key = (call.server, channel.uniqueid)
        ledger._by_channel[key] = call.call_id
        ledger._endpoints[key] = channel.endpoint
        ledger._names[key] = channel.name
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


def _catch_up(ledger: CallLedger, server: str, at: float, channel: ev.Channel) -> list[CallUpdate]:
    """A channel we track is listed Up: what happened to it while AMI was down.

    A leg still ringing here was answered in the dark (its DialEnd was lost with the
    connection); an outbound call's far end listed Up answered. The answer time is the
    resync's: the lost events are the only place the real one was.
    """
    call = ledger._call_for(server, channel)
    if call is None or channel.state is not ev.ChannelState.UP:
        return []
    ledger._refresh(call, channel)
    leg = call.legs.get(channel.uniqueid)
    if leg is not None and leg.state in UNANSWERED:
        call.flag("resynced_answer")
        return ledger._answered(call, leg, at)
    far_end = (
        leg is None
        and call.direction is not Direction.INBOUND
        and channel.uniqueid not in (call.origin, call.owner_leg)
        and not ledger._is_agent(channel.endpoint)
        and call.answered_at is None
    )
    if far_end:
        return ledger._far_end_ended(call, "ANSWER", at)
    return []


def _adopt(ledger: CallLedger, server: str, at: float, item: ev.ListedChannel) -> list[CallUpdate]:
    """A listed channel: catch up on it if tracked, else take it into its call (or a new one)."""
    channel = item.channel
    if (server, channel.uniqueid) in ledger._by_channel:
        return _catch_up(ledger, server, at, channel)
    started = at - item.duration_seconds
    call = ledger._call_for(server, channel)
    updates: list[CallUpdate] = []
    if call is None:
        call = ledger._new_call(server, channel, started)
        call.flags.append("adopted")
        if call.direction is Direction.OUTBOUND:
            _adopted_outbound(call, channel, ledger._phone_of(channel.endpoint))
        updates.append(CallStarted(call.view()))
    else:
        ledger._attach(call, server, channel)
    if ledger._is_agent(channel.endpoint) and channel.uniqueid != call.owner_leg:
        if channel.state is ev.ChannelState.RINGING:
            updates += ledger._ring(call, server, channel, at)
        elif channel.state is ev.ChannelState.UP:
            endpoint = ledger._phone_of(channel.endpoint)
            leg = TrackedLeg(endpoint, channel.uniqueid, LegState.RINGING, started)
            call.legs[channel.uniqueid] = leg
            call.rung.append(endpoint)
            updates += ledger._answered(call, leg, started)
    return updates


def _adopted_outbound(call: TrackedCall, channel: ev.Channel, endpoint: str) -> None:
    """An agent's call found at a resync: the agent's number calls, and a click-to-dial's
    channel still sits on the number dialled (its Originate's exten); by then the dialplan may
    have given the channel the trunk's outbound caller id."""
    number = extension(endpoint)
    if channel.caller.number != number:
        call.caller = ev.Party(number=number)
    if channel.originate_id and channel.exten not in ("", "s"):
        call.called_number = channel.exten


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
