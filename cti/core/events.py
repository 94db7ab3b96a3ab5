"""Normalized PBX events: what the call tracker is fed, whatever PBX or transport produced them.

The Asterisk adapter (pbx_adapters.asterisk.normalize) turns each AMI message into one of these
frozen values, parsing numbers, times and Asterisk's ``<unknown>`` once; nothing downstream sees
an AMI dictionary. Names are past tense: each says what happened on the PBX.

Every value is a frozen, slotted dataclass (equality, hashing, ``repr``, ``dataclasses.replace``,
pattern matching and ``FrozenInstanceError`` on assignment all work as usual) whose ``__init__``
is swapped for a faster one by :func:`_fast_init`: the AMI read path builds about one channel,
two parties and one event per frame, and a frozen dataclass's own ``__init__`` made that the
largest cost of ingest.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, dataclass, fields
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "WEBRTC_SUFFIX",
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
    "PbxShuttingDownChannel",
    "QueueCallerAbandoned",
    "QueueCallerJoined",
    "QueueCallerLeft",
    "QueueMemberChanged",
    "QueueMemberRemoved",
    "RecordingStarted",
    "endpoint_of",
    "is_site_device",
]

_T = TypeVar("_T", bound="DataclassInstance")


def _fast_init(cls: type[_T]) -> type[_T]:
    """Build instances of a frozen, slotted dataclass at the speed of a plain slotted class.

    Why: a frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``
    (its own ``__setattr__`` refuses), about 100 ns a field, where a plain store into a slot
    costs a fifth of that. This replaces ``__init__`` with a ``__new__`` of the same signature
    that makes the instance as a *twin* class (same base, same slots, object's own
    ``__setattr__`` and ``__delattr__``), stores the fields, then switches its ``__class__``,
    which CPython allows between classes of the same layout. Everything else stays the
    dataclass's: equality, hashing, ``repr``, ``dataclasses.replace``, pattern matching,
    pickling and copying (through ``__getnewargs_ex__``), and ``FrozenInstanceError`` on
    assignment. Every subclass of a class built so must be built so too (its own fields need
    their own ``__new__``).
    """
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    names = [param.name for param in params]
    plain = [f.name for f in fields(cls) if f.init and f.default_factory is MISSING]
    if names != plain:
        raise TypeError(f"{cls.__name__}: only plain fields can take the fast constructor")
    twin = type(
        f"_{cls.__name__}Twin",
        cls.__bases__,
        {
            "__slots__": cls.__dict__.get("__slots__", ()),
            # Both, or CPython keeps calling the frozen base's hooks through a Python wrapper.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
        },
    )
    head: list[str] = []
    namespace: dict[str, Any] = {"_make": object.__new__, "_twin": twin, "_cls": cls}
    for param in params:
        if param.kind is param.KEYWORD_ONLY and "*" not in head:
            head.append("*")
        if param.default is param.empty:
            head.append(param.name)
        else:
            head.append(f"{param.name}=_default_{param.name}")
            namespace[f"_default_{param.name}"] = param.default
    stores = "".join(f"    self.{name} = {name}\n" for name in names)
    source = (
        f"def __new__(cls, {', '.join(head)}):\n"
        "    self = _make(_twin)\n"
        f"{stores}"
        "    self.__class__ = _cls\n"
        "    return self\n"
    )
    exec(source, namespace)  # noqa: S102 (source built above from the dataclass's own fields)
    constructor = namespace["__new__"]
    constructor.__qualname__ = f"{cls.__qualname__}.__new__"
    constructor.__annotations__ = dict(cls.__init__.__annotations__)
    setattr(cls, "__new__", staticmethod(constructor))  # noqa: B010 (mypy: not a method assignment)
    delattr(cls, "__init__")  # object.__init__ accepts the arguments once __new__ is defined
    setattr(cls, "__getnewargs_ex__", _newargs)  # noqa: B010
    return cls


def _newargs(self: DataclassInstance) -> tuple[tuple[()], dict[str, object]]:
    """Give pickle and copy the fields as keywords, since ``__new__`` needs them."""
    return (), {f.name: getattr(self, f.name) for f in fields(self)}


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


@_fast_init
@dataclass(frozen=True, slots=True)
class Party:
    """A caller-id or connected-line pair as Asterisk reported it ("" where it said <unknown>)."""

    number: str = ""
    name: str = ""


_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(?:;[12])?$")
#: The agent's browser phone is PJSIP endpoint ``<ext>-webrtc`` (asterisk-config/pjsip.conf): a
#: second phone of the same agent endpoint, which rings together with the desk phone.
WEBRTC_SUFFIX = "-webrtc"


#: A phone added by MAC (cti.site) is PJSIP endpoint ``d<mac>``: a phone of its own, rung with
#: its agent's (extensions_cti_devices.conf) and a queue member of its own.
_SITE_DEVICE = re.compile(r"PJSIP/d[0-9a-f]{12}")


def is_site_device(endpoint: str) -> bool:
    """Whether ``endpoint`` is a device added by MAC (``PJSIP/d001565abcdef``)."""
    return _SITE_DEVICE.fullmatch(endpoint) is not None


def endpoint_of(channel_name: str) -> str:
    """Return the device of a channel name: ``PJSIP/1001-0000002a`` -> ``PJSIP/1001``.

    The browser phone's channels (``PJSIP/1001-webrtc-0000002b``) belong to the same device:
    the call is the agent's whichever of their phones rang or answered.
    """
    return _CHANNEL_SUFFIX.sub("", channel_name).removesuffix(WEBRTC_SUFFIX)


@_fast_init
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


@_fast_init
@dataclass(frozen=True, slots=True)
class PbxEvent:
    """Fields every event has: the PBX it came from and when it happened (epoch seconds).

    Events take their fields by keyword or, in the order declared (``server``, ``at``, then the
    event's own), by position: the normalizer builds one per AMI event, and a positional call
    costs a third less.
    """

    server: str
    at: float


@_fast_init
@dataclass(frozen=True, slots=True)
class ChannelCreated(PbxEvent):
    channel: Channel


@_fast_init
@dataclass(frozen=True, slots=True)
class ChannelUpdated(PbxEvent):
    """The channel changed state, caller id, connected line or variables (Newstate, NewCallerid)."""

    channel: Channel


@_fast_init
@dataclass(frozen=True, slots=True)
class ChannelHungUp(PbxEvent):
    channel: Channel
    cause: int
    cause_text: str


@_fast_init
@dataclass(frozen=True, slots=True)
class HangupRequested(PbxEvent):
    """The channel's far end hung up (a BYE or CANCEL came in): for a caller, they left.

    Asterisk's HangupRequest comes before the Dial and queue events the hangup causes, so it is
    the first sign that a caller abandoned. (SoftHangupRequest, a hangup by the dialplan or an
    application, is not this event.)
    """

    channel: Channel
    cause: int


@_fast_init
@dataclass(frozen=True, slots=True)
class PbxShuttingDownChannel(PbxEvent):
    """Asterisk is shutting down or restarting and hangs this channel up.

    On ``core restart now`` Asterisk 22 sends, for each live channel, a SoftHangupRequest with
    cause 4 (AST_SOFTHANGUP_SHUTDOWN), then an ordinary Hangup; its ``Shutdown`` event only comes
    after all of them. This is what tells a call cut by the PBX from one the parties ended.
    """

    channel: Channel


@_fast_init
@dataclass(frozen=True, slots=True)
class DialBegan(PbxEvent):
    """A channel started ringing another (app_dial, app_queue or Originate); caller may be None."""

    caller: Channel | None
    callee: Channel
    dial_string: str


@_fast_init
@dataclass(frozen=True, slots=True)
class DialEnded(PbxEvent):
    """The dial attempt ended: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL..."""

    caller: Channel | None
    callee: Channel
    status: str


@_fast_init
@dataclass(frozen=True, slots=True)
class BridgeEntered(PbxEvent):
    channel: Channel
    bridge_id: str
    bridge_technology: str
    members: int


@_fast_init
@dataclass(frozen=True, slots=True)
class BridgeLeft(PbxEvent):
    channel: Channel
    bridge_id: str
    members: int


@_fast_init
@dataclass(frozen=True, slots=True)
class HoldChanged(PbxEvent):
    channel: Channel
    held: bool


@_fast_init
@dataclass(frozen=True, slots=True)
class QueueCallerJoined(PbxEvent):
    channel: Channel
    queue: str
    position: int


@_fast_init
@dataclass(frozen=True, slots=True)
class QueueCallerLeft(PbxEvent):
    channel: Channel
    queue: str


@_fast_init
@dataclass(frozen=True, slots=True)
class QueueCallerAbandoned(PbxEvent):
    channel: Channel
    queue: str
    hold_seconds: float


@_fast_init
@dataclass(frozen=True, slots=True)
class AgentCalled(PbxEvent):
    """A queue started ringing a member (one per ringing member with ringall)."""

    caller: Channel
    agent: Channel
    queue: str
    interface: str


@_fast_init
@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(PbxEvent):
    caller: Channel
    agent: Channel
    queue: str
    interface: str
    ring_seconds: float


@_fast_init
@dataclass(frozen=True, slots=True)
class AgentConnected(PbxEvent):
    caller: Channel
    agent: Channel
    queue: str
    interface: str
    hold_seconds: float
    ring_seconds: float


@_fast_init
@dataclass(frozen=True, slots=True)
class AgentCompleted(PbxEvent):
    caller: Channel
    agent: Channel
    queue: str
    interface: str
    talk_seconds: float
    reason: str


@_fast_init
@dataclass(frozen=True, slots=True)
class BlindTransferred(PbxEvent):
    """``transferer`` sent the other party (``transferee``) to ``exten``@``context``."""

    transferer: Channel
    transferee: Channel | None
    exten: str
    context: str
    result: str


@_fast_init
@dataclass(frozen=True, slots=True)
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


@_fast_init
@dataclass(frozen=True, slots=True)
class OriginateResponded(PbxEvent):
    """The outcome of an async Originate (its ActionID ties it to the request)."""

    action_id: str
    success: bool
    channel_name: str
    uniqueid: str
    reason: int


@_fast_init
@dataclass(frozen=True, slots=True)
class QueueMemberChanged(PbxEvent):
    """A queue member's pause state or device status changed (QueueMemberStatus/Pause/Added).

    ``added`` is set for QueueMemberAdded: the member joined the queue (an agent logged in).
    """

    queue: str
    interface: str
    member_name: str
    paused: bool
    pause_reason: str
    status: int  # ast_device_state: 1 not in use, 2 in use, 3 busy, 5 unavailable, 6 ringing...
    in_call: bool
    added: bool = False


@_fast_init
@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(PbxEvent):
    """A member left a queue (QueueMemberRemoved: the agent logged out, or an admin removed it)."""

    queue: str
    interface: str
    member_name: str


@_fast_init
@dataclass(frozen=True, slots=True)
class ContactStatusChanged(PbxEvent):
    """A PJSIP contact (a registered phone or a qualified trunk) changed reachability."""

    aor: str
    uri: str
    status: str  # Reachable, Unreachable, Created, Removed, Updated
    rtt_ms: float | None
    endpoint: str


@_fast_init
@dataclass(frozen=True, slots=True)
class RecordingStarted(PbxEvent):
    """MixMonitor started recording ``channel`` (``MixMonitorStart``): the ``cti-record`` gosub
    on an agent's answered leg, which names the file from the channel's linkedid and uniqueid."""

    channel: Channel


@_fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ListedChannel:
    """One live channel as CoreShowChannels listed it after a (re)connect."""

    channel: Channel
    bridge_id: str
    application: str
    duration_seconds: float


@_fast_init
@dataclass(frozen=True, slots=True)
class ChannelsListed(PbxEvent):
    """Every live channel on the server, read right after login: the tracker reconciles to it."""

    channels: tuple[ListedChannel, ...]


@_fast_init
@dataclass(frozen=True, slots=True)
class PbxBooted(PbxEvent):
    """Asterisk finished loading (FullyBooted, sent on every login)."""


@_fast_init
@dataclass(frozen=True, slots=True)
class PbxShutdown(PbxEvent):
    """Asterisk is shutting down or restarting: every live channel is about to vanish."""

    restart: bool
