"""Normalized PBX events: what the call tracker is fed, whatever PBX or transport produced them.

The Asterisk adapter (pbx_adapters.asterisk.normalize) turns each AMI message into one of these
frozen values, parsing numbers, times and Asterisk's ``<unknown>`` once; nothing downstream sees
an AMI dictionary. Names are past tense: each says what happened on the PBX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "AgentCalled",
    "AgentCompleted",
    "AgentConnected",
    "AgentRingNoAnswer",
    "AttendedTransferred",
    "BlindTransferred",
    "BridgeEntered",
    "BridgeLeft",
    "Channel",
    "ChannelCreated",
    "ChannelHungUp",
    "ChannelState",
    "ChannelUpdated",
    "ChannelsListed",
    "ContactStatusChanged",
    "DialBegan",
    "DialEnded",
    "HangupRequested",
    "HoldChanged",
    "ListedChannel",
    "OriginateResponded",
    "Party",
    "PbxBooted",
    "PbxEvent",
    "PbxShutdown",
    "QueueCallerAbandoned",
    "QueueCallerJoined",
    "QueueCallerLeft",
    "QueueMemberChanged",
    "endpoint_of",
]


class ChannelState(IntEnum):
    """Asterisk's channel states (``ChannelState:`` header, enum ast_channel_state)."""

    DOWN = 0
    RESERVED = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4  # the channel is ringing out (a caller waiting for the far end)
    RINGING = 5  # the channel's device is ringing (an agent's phone)
    UP = 6
    BUSY = 7
    DIALING_OFFHOOK = 8
    PRERING = 9


@dataclass(frozen=True, slots=True)
class Party:
    """A caller-id or connected-line pair as Asterisk reported it ("" where it said <unknown>)."""

    number: str = ""
    name: str = ""


_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(?:;[12])?$")


def endpoint_of(channel_name: str) -> str:
    """Return the device of a channel name: ``PJSIP/1001-0000002a`` -> ``PJSIP/1001``."""
    return _CHANNEL_SUFFIX.sub("", channel_name)


@dataclass(frozen=True, slots=True)
class Channel:
    """A snapshot of one channel as an event described it."""

    name: str
    uniqueid: str
    linkedid: str
    state: ChannelState
    caller: Party
    connected: Party
    context: str = ""
    exten: str = ""
    did: str | None = None  # CTI_DID (extensions.conf sets it; manager.conf channelvars shows it)
    trunk: str | None = None  # CTI_TRUNK
    originate_id: str | None = None  # CTI_ORIGINATE_ID, set on click-to-dial Originates

    @property
    def endpoint(self) -> str:
        return endpoint_of(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxEvent:
    """Fields every event has: the PBX it came from and when it happened (epoch seconds)."""

    server: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(PbxEvent):
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUpdated(PbxEvent):
    """The channel changed state, caller id, connected line or variables (Newstate, NewCallerid)."""

    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHungUp(PbxEvent):
    channel: Channel
    cause: int
    cause_text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupRequested(PbxEvent):
    """The channel's far end hung up (a BYE or CANCEL came in): for a caller, they left.

    Asterisk's HangupRequest comes before the Dial and queue events the hangup causes, so it is
    the first sign that a caller abandoned. (SoftHangupRequest, a hangup by the dialplan or an
    application, is not this event.)
    """

    channel: Channel
    cause: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DialBegan(PbxEvent):
    """A channel started ringing another (app_dial, app_queue or Originate); caller may be None."""

    caller: Channel | None
    callee: Channel
    dial_string: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnded(PbxEvent):
    """The dial attempt ended: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL..."""

    caller: Channel | None
    callee: Channel
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEntered(PbxEvent):
    channel: Channel
    bridge_id: str
    bridge_technology: str
    members: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeLeft(PbxEvent):
    channel: Channel
    bridge_id: str
    members: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldChanged(PbxEvent):
    channel: Channel
    held: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerJoined(PbxEvent):
    channel: Channel
    queue: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerLeft(PbxEvent):
    channel: Channel
    queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerAbandoned(PbxEvent):
    channel: Channel
    queue: str
    hold_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled(PbxEvent):
    """A queue started ringing a member (one per ringing member with ringall)."""

    caller: Channel
    agent: Channel
    queue: str
    interface: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer(PbxEvent):
    caller: Channel
    agent: Channel
    queue: str
    interface: str
    ring_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnected(PbxEvent):
    caller: Channel
    agent: Channel
    queue: str
    interface: str
    hold_seconds: float
    ring_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCompleted(PbxEvent):
    caller: Channel
    agent: Channel
    queue: str
    interface: str
    talk_seconds: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlindTransferred(PbxEvent):
    """``transferer`` sent the other party (``transferee``) to ``exten``@``context``."""

    transferer: Channel
    transferee: Channel | None
    exten: str
    context: str
    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendedTransferred(PbxEvent):
    """An attended transfer: the party held by the first call joins the second call's target.

    ``orig_transferer`` is the agent's leg in the call with the caller, ``second_transferer`` the
    agent's leg in the consultation call, ``transfer_target`` the consulted party's leg.
    """

    orig_transferer: Channel
    second_transferer: Channel | None
    transferee: Channel | None
    transfer_target: Channel | None
    dest_type: str
    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateResponded(PbxEvent):
    """The outcome of an async Originate (its ActionID ties it to the request)."""

    action_id: str
    success: bool
    channel_name: str
    uniqueid: str
    reason: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberChanged(PbxEvent):
    """A queue member's pause state or device status changed (QueueMemberStatus/Pause/Added)."""

    queue: str
    interface: str
    member_name: str
    paused: bool
    pause_reason: str
    status: int  # ast_device_state: 1 not in use, 2 in use, 3 busy, 5 unavailable, 6 ringing...
    in_call: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactStatusChanged(PbxEvent):
    """A PJSIP contact (a registered phone or a qualified trunk) changed reachability."""

    aor: str
    uri: str
    status: str  # Reachable, Unreachable, Created, Removed, Updated
    rtt_ms: float | None
    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedChannel:
    """One live channel as CoreShowChannels listed it after a (re)connect."""

    channel: Channel
    bridge_id: str
    application: str
    duration_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelsListed(PbxEvent):
    """Every live channel on the server, read right after login: the tracker reconciles to it."""

    channels: tuple[ListedChannel, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxBooted(PbxEvent):
    """Asterisk finished loading (FullyBooted, sent on every login)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxShutdown(PbxEvent):
    """Asterisk is shutting down or restarting: every live channel is about to vanish."""

    restart: bool
