"""Turn AMI frames into the normalized events of :mod:`cti.core.events`.

The only place that knows AMI header names. Each event name maps to one small function; frames
of events the CTI does not use (``TestEvent``, ``VarSet``, ``DeviceStateChange`` ...) give None.
A frame that names a known event but lacks what that event must carry raises
:class:`AmiProtocolError` (the caller counts and logs it; the stream goes on).

Channel snapshots repeat under a prefix (``Dest``, ``Transferer``, ``OrigTransferer`` ...): the
same reader serves every prefix (Asterisk's ast_manager_build_channel_state_string_prefix).

That function escapes the caller-id and connected-line names and the channel variables' values
(``ast_escape_c_alloc``); they are unescaped here, once, and no other header is (see
:mod:`pbx_adapters.asterisk.escapes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import compress
from operator import itemgetter

from cti.core.events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    AttendedTransferred,
    BlindTransferred,
    BridgeEntered,
    BridgeLeft,
    Channel,
    ChannelCreated,
    ChannelHungUp,
    ChannelState,
    ChannelUpdated,
    ContactStatusChanged,
    DialBegan,
    DialEnded,
    HangupRequested,
    HoldChanged,
    ListedChannel,
    OriginateResponded,
    Party,
    PbxBooted,
    PbxEvent,
    PbxShutdown,
    PbxShuttingDownChannel,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMemberChanged,
    QueueMemberRemoved,
    RecordingStarted,
)
from cti.errors import AmiProtocolError
from pbx_adapters.asterisk.escapes import unescape_c

__all__ = ["Normalizer", "channel_from"]

_UNKNOWN = "<unknown>"
_VAR_SUFFIX = "ChanVariable"
# The variables manager.conf's channelvars attaches, and the Channel field each fills.
_CTI_VARS = {"CTI_DID": "did", "CTI_TRUNK": "trunk", "CTI_ORIGINATE_ID": "originate_id"}

Headers = dict[str, str]
Variables = dict[tuple[str, str], str]


# The channel prefixes Asterisk uses in the events read here, and their ChanVariable headers.
_PREFIXES = (
    "", "Dest", "Transferer", "Transferee", "OrigTransferer", "SecondTransferer", "TransferTarget",
)  # fmt: skip
_VAR_KEYS = {prefix + _VAR_SUFFIX: prefix for prefix in _PREFIXES}
_key_of = itemgetter(0)


def _index(frame: Iterable[tuple[str, str]]) -> tuple[Headers, Variables]:
    """Return the first value of each header, and the CTI channel variables by (prefix, name)."""
    pairs = frame if isinstance(frame, tuple) else tuple(frame)
    headers: Headers = dict(reversed(pairs))  # built in C; reversed: the first value wins
    variables: Variables = {}
    # Only repeated ChanVariable headers (one per variable, per channel prefix) carry them;
    # the scan for them runs in C (compress, map): most frames have three to six.
    for key, value in compress(pairs, map(_VAR_KEYS.__contains__, map(_key_of, pairs))):
        name, _, val = value.partition("=")
        if val and name in _CTI_VARS:
            variables[(_VAR_KEYS[key], name)] = unescape_c(val, key)
    return headers, variables


def _text(value: str | None) -> str:
    return "" if value is None or value == _UNKNOWN else value


def _number(value: str, what: str) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError as exc:
        raise AmiProtocolError(f"{what} is not a number: {value[:40]!r}") from exc


_STATES = {str(int(state)): state for state in ChannelState}
# The header names of a channel snapshot under each prefix, built once per prefix.
_SNAPSHOT_KEYS: dict[str, tuple[str, ...]] = {}


def _snapshot_keys(prefix: str) -> tuple[str, ...]:
    keys = _SNAPSHOT_KEYS.get(prefix)
    if keys is None:
        names = (
            "Channel", "Uniqueid", "Linkedid", "ChannelState", "CallerIDNum", "CallerIDName",
            "ConnectedLineNum", "ConnectedLineName", "Context", "Exten",
        )  # fmt: skip
        keys = _SNAPSHOT_KEYS[prefix] = tuple(prefix + name for name in names)
    return keys


# Caller-id pairs repeat in every event of a call: share one Party per pair seen lately
# (the values are immutable; a lookup costs a fifth of building one). Forgets all when full.
_PARTIES: dict[tuple[str, str], Party] = {}
_MAX_PARTIES = 4096


def _party(number: str, name: str, name_header: str) -> Party:
    """Return the Party of a snapshot's number and (AMI-escaped) name, as received."""
    key = (number, name)
    party = _PARTIES.get(key)
    if party is None:
        if len(_PARTIES) >= _MAX_PARTIES:
            _PARTIES.clear()
        party = _PARTIES[key] = Party(
            "" if number == _UNKNOWN else number,
            "" if name == _UNKNOWN else unescape_c(name, name_header),
        )
    return party


def channel_from(headers: Headers, variables: Variables, prefix: str = "") -> Channel | None:
    """Read the channel snapshot stored under ``prefix``; None if the frame has none there."""
    k_chan, k_uid, k_linked, k_state, k_cnum, k_cname, k_lnum, k_lname, k_ctx, k_exten = (
        _SNAPSHOT_KEYS.get(prefix) or _snapshot_keys(prefix)
    )
    get = headers.get
    name = get(k_chan)
    uniqueid = get(k_uid)
    if not name or not uniqueid:
        return None
    if variables:
        did = variables.get((prefix, "CTI_DID"))
        trunk = variables.get((prefix, "CTI_TRUNK"))
        originate_id = variables.get((prefix, "CTI_ORIGINATE_ID"))
    else:
        did = trunk = originate_id = None
    return Channel(
        name,
        uniqueid,
        get(k_linked) or uniqueid,
        _STATES.get(get(k_state, "0"), ChannelState.DOWN),
        _party(get(k_cnum, ""), get(k_cname, ""), k_cname),
        _party(get(k_lnum, ""), get(k_lname, ""), k_lname),
        get(k_ctx, ""),
        get(k_exten, ""),
        did,
        trunk,
        originate_id,
    )


def _required(headers: Headers, variables: Variables, prefix: str = "") -> Channel:
    channel = channel_from(headers, variables, prefix)
    if channel is None:
        raise AmiProtocolError(
            f"{headers.get('Event', '?')} without a {prefix or 'main'} channel",
            details={"event": headers.get("Event", "")},
        )
    return channel


Builder = Callable[[Headers, Variables, str, float], PbxEvent | None]


# The frequent events are built with positional fields (server, at, then the event's own, in
# the order cti.core.events declares them): a keyword call costs a third more.


def _channel_created(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return ChannelCreated(server, at, _required(h, v))


def _channel_updated(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return ChannelUpdated(server, at, _required(h, v))


def _hangup(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    cause = int(_number(h.get("Cause", "0"), "Cause"))
    return ChannelHungUp(server, at, _required(h, v), cause, h.get("Cause-txt", ""))


def _hangup_request(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return HangupRequested(
        channel=_required(h, v),
        cause=int(_number(h.get("Cause", "0"), "Cause")),
        server=server,
        at=at,
    )


_SOFTHANGUP_SHUTDOWN = "4"  # AST_SOFTHANGUP_SHUTDOWN: the PBX is going down


def _soft_hangup_request(h: Headers, v: Variables, server: str, at: float) -> PbxEvent | None:
    """Only the shutdown kind matters (a call cut by the PBX); others are the dialplan's own."""
    if h.get("Cause") != _SOFTHANGUP_SHUTDOWN:
        return None
    return PbxShuttingDownChannel(channel=_required(h, v), server=server, at=at)


def _dial_begin(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    callee = _required(h, v, "Dest")
    return DialBegan(server, at, channel_from(h, v), callee, h.get("DialString", ""))


def _dial_end(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    callee = _required(h, v, "Dest")
    return DialEnded(server, at, channel_from(h, v), callee, h.get("DialStatus", ""))


def _bridge_enter(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    members = int(_number(h.get("BridgeNumChannels", "0"), "BridgeNumChannels"))
    bridge, technology = h.get("BridgeUniqueid", ""), h.get("BridgeTechnology", "")
    return BridgeEntered(server, at, _required(h, v), bridge, technology, members)


def _bridge_leave(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    members = int(_number(h.get("BridgeNumChannels", "0"), "BridgeNumChannels"))
    return BridgeLeft(server, at, _required(h, v), h.get("BridgeUniqueid", ""), members)


def _hold(held: bool) -> Builder:
    def build(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
        return HoldChanged(channel=_required(h, v), held=held, server=server, at=at)

    return build


def _queue_join(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return QueueCallerJoined(
        channel=_required(h, v),
        queue=h.get("Queue", ""),
        position=int(_number(h.get("Position", "0"), "Position")),
        server=server,
        at=at,
    )


def _queue_leave(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return QueueCallerLeft(channel=_required(h, v), queue=h.get("Queue", ""), server=server, at=at)


def _queue_abandon(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return QueueCallerAbandoned(
        channel=_required(h, v),
        queue=h.get("Queue", ""),
        hold_seconds=_number(h.get("HoldTime", "0"), "HoldTime"),
        server=server,
        at=at,
    )


def _agent_fields(h: Headers, v: Variables) -> dict[str, object]:
    # AgentCalled & co: Channel = the queue caller, DestChannel = the member's channel.
    return {
        "caller": _required(h, v),
        "agent": _required(h, v, "Dest"),
        "queue": h.get("Queue", ""),
        "interface": h.get("Interface") or h.get("MemberName", ""),
    }


def _agent_called(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return AgentCalled(**_agent_fields(h, v), server=server, at=at)  # type: ignore[arg-type]


def _agent_ring_no_answer(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    ring = _number(h.get("RingTime", "0"), "RingTime") / 1000.0  # milliseconds
    return AgentRingNoAnswer(**_agent_fields(h, v), ring_seconds=ring, server=server, at=at)  # type: ignore[arg-type]


def _agent_connect(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return AgentConnected(
        **_agent_fields(h, v),  # type: ignore[arg-type]
        hold_seconds=_number(h.get("HoldTime", "0"), "HoldTime"),
        ring_seconds=_number(h.get("RingTime", "0"), "RingTime"),
        server=server,
        at=at,
    )


def _agent_complete(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return AgentCompleted(
        **_agent_fields(h, v),  # type: ignore[arg-type]
        talk_seconds=_number(h.get("TalkTime", "0"), "TalkTime"),
        reason=h.get("Reason", ""),
        server=server,
        at=at,
    )


def _blind_transfer(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return BlindTransferred(
        transferer=_required(h, v, "Transferer"),
        transferee=channel_from(h, v, "Transferee"),
        exten=h.get("Extension", ""),
        context=h.get("Context", ""),
        result=h.get("Result", ""),
        server=server,
        at=at,
    )


def _attended_transfer(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return AttendedTransferred(
        orig_transferer=_required(h, v, "OrigTransferer"),
        second_transferer=channel_from(h, v, "SecondTransferer"),
        transferee=channel_from(h, v, "Transferee"),
        transfer_target=channel_from(h, v, "TransferTarget"),
        dest_type=h.get("DestType", ""),
        result=h.get("Result", ""),
        server=server,
        at=at,
    )


def _originate_response(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return OriginateResponded(
        action_id=h.get("ActionID", ""),
        success=h.get("Response", "") == "Success",
        channel_name=h.get("Channel", ""),
        uniqueid=_text(h.get("Uniqueid")),
        reason=int(_number(h.get("Reason", "0"), "Reason")),
        server=server,
        at=at,
    )


def _queue_member(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return QueueMemberChanged(
        server,
        at,
        h.get("Queue", ""),
        h.get("Interface") or h.get("StateInterface", ""),  # interface
        h.get("MemberName", ""),
        h.get("Paused", "0") == "1",
        h.get("PausedReason", ""),
        int(_number(h.get("Status", "0"), "Status")),
        h.get("InCall", "0") == "1",
    )


def _queue_member_added(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    """QueueMemberAdded: the member's state, and that it just joined (an agent logged in)."""
    return QueueMemberChanged(
        server,
        at,
        h.get("Queue", ""),
        h.get("Interface") or h.get("StateInterface", ""),
        h.get("MemberName", ""),
        h.get("Paused", "0") == "1",
        h.get("PausedReason", ""),
        int(_number(h.get("Status", "0"), "Status")),
        h.get("InCall", "0") == "1",
        True,
    )


def _queue_member_removed(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return QueueMemberRemoved(
        queue=h.get("Queue", ""),
        interface=h.get("Interface") or h.get("StateInterface", ""),
        member_name=h.get("MemberName", ""),
        server=server,
        at=at,
    )


def _contact_status(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    rtt = h.get("RoundtripUsec", "")
    rtt_ms = _number(rtt, "RoundtripUsec") / 1000.0 if rtt and rtt != "N/A" else None
    return ContactStatusChanged(
        aor=h.get("AOR", ""),
        uri=h.get("URI", ""),
        status=h.get("ContactStatus", ""),
        rtt_ms=rtt_ms,
        endpoint=h.get("EndpointName", ""),
        server=server,
        at=at,
    )


def _mixmonitor_start(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return RecordingStarted(channel=_required(h, v), server=server, at=at)


def _fully_booted(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return PbxBooted(server=server, at=at)


def _shutdown(h: Headers, v: Variables, server: str, at: float) -> PbxEvent:
    return PbxShutdown(restart=h.get("Restart", "False") == "True", server=server, at=at)


# A header an event must hold to give anything (checked before indexing the frame): a
# SoftHangupRequest matters only when the PBX is shutting down.
_NEEDED = {"SoftHangupRequest": ("Cause", _SOFTHANGUP_SHUTDOWN)}

_BUILDERS: dict[str, Builder] = {
    "Newchannel": _channel_created,
    "Newstate": _channel_updated,
    "NewCallerid": _channel_updated,
    "NewConnectedLine": _channel_updated,
    "Hangup": _hangup,
    "HangupRequest": _hangup_request,
    "SoftHangupRequest": _soft_hangup_request,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "Hold": _hold(True),
    "Unhold": _hold(False),
    "QueueCallerJoin": _queue_join,
    "QueueCallerLeave": _queue_leave,
    "QueueCallerAbandon": _queue_abandon,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _agent_ring_no_answer,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "OriginateResponse": _originate_response,
    "QueueMemberStatus": _queue_member,
    "QueueMemberPause": _queue_member,
    "QueueMemberAdded": _queue_member_added,
    "QueueMemberRemoved": _queue_member_removed,
    "ContactStatus": _contact_status,
    "MixMonitorStart": _mixmonitor_start,  # class call; the cti-record gosub started it
    "FullyBooted": _fully_booted,
    "Shutdown": _shutdown,
}


class Normalizer:
    """Normalize the frames of one named Asterisk server; counts what it ignored or rejected."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.ignored = 0
        self.rejected = 0

    def event(self, frame: Iterable[tuple[str, str]], received_at: float) -> PbxEvent | None:
        """Return the event for ``frame``; None for events the CTI does not use.

        ``received_at`` (epoch seconds) stands in when Asterisk sent no ``Timestamp``.
        """
        pairs = frame if isinstance(frame, tuple) else tuple(frame)
        first_key, first_value = pairs[0] if pairs else ("", "")
        if first_key == "Event":
            # Most ignored events are told apart before any indexing.
            builder = _BUILDERS.get(first_value)
            needed = _NEEDED.get(first_value)
            if builder is None or (needed is not None and needed not in pairs):
                self.ignored += 1
                return None
        else:
            builder = _BUILDERS.get(next((v for k, v in pairs if k == "Event"), ""))
            if builder is None:
                self.ignored += 1
                return None
        try:
            headers, variables = _index(pairs)
            stamp = headers.get("Timestamp")
            try:
                at = float(stamp) if stamp else received_at
            except ValueError:
                at = received_at
            event = builder(headers, variables, self.server, at)
        except AmiProtocolError:
            self.rejected += 1
            raise
        if event is None:
            self.ignored += 1
        return event

    def listed_channels(self, frames: Iterable[Iterable[tuple[str, str]]]) -> list[ListedChannel]:
        """Read the ``CoreShowChannel`` events of a CoreShowChannels response."""
        listed = []
        for frame in frames:
            try:
                headers, variables = _index(frame)
                if headers.get("Event") != "CoreShowChannel":
                    continue
                channel = channel_from(headers, variables)
            except AmiProtocolError:
                channel = None
            if channel is None:
                self.rejected += 1
                continue
            listed.append(
                ListedChannel(
                    channel=channel,
                    bridge_id=headers.get("BridgeId", ""),
                    application=headers.get("Application", ""),
                    duration_seconds=_duration(headers.get("Duration", "")),
                )
            )
        return listed


def _duration(text: str) -> float:
    """Parse CoreShowChannel's ``Duration: HH:MM:SS``."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return 0.0
    return float(hours * 3600 + minutes * 60 + seconds)
