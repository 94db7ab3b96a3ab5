"""What a test phone saw: call records, state timelines, answer policies and events.

Nothing here imports pjsua2. The pjsua2 thread writes these records (under the fleet's condition
variable) and test threads read and wait on them, so every read and write of a record's mutable
state holds that condition's lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CALL_STATES",
    "AnswerPolicy",
    "AutoAnswer",
    "AutoReject",
    "CallState",
    "IncomingCall",
    "Manual",
    "OutgoingCall",
    "PhoneCall",
    "PhoneError",
    "PhoneEvent",
    "StateChange",
    "TransferNotice",
    "parse_headers",
    "parse_name_addr",
]


class PhoneError(AssertionError):
    """Raise when a test phone did not do or see what the test expected, or pjsua2 refused.

    It subclasses AssertionError so that pytest reports it as a test failure, not an error in
    the test's own code.
    """


# pjsip_inv_state, in the order an INVITE session passes through them.
CallState = Literal[
    "NULL", "CALLING", "INCOMING", "EARLY", "CONNECTING", "CONFIRMED", "DISCONNECTED"
]
CALL_STATES: tuple[CallState, ...] = (
    "NULL",
    "CALLING",
    "INCOMING",
    "EARLY",
    "CONNECTING",
    "CONFIRMED",
    "DISCONNECTED",
)


@dataclass(frozen=True)
class StateChange:
    """One INVITE-session state a call entered, at a `time.monotonic()` instant."""

    state: CallState
    at: float
    status_code: int
    reason: str


@dataclass(frozen=True)
class TransferNotice:
    """One NOTIFY (RFC 3515 sipfrag) about a REFER this phone sent on a call."""

    at: float
    status_code: int
    reason: str
    final: bool


@dataclass(frozen=True)
class PhoneEvent:
    """One thing a phone saw or did, kept for reading after an end-to-end failure."""

    at: float
    extension: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.at:.3f} {self.extension} {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Manual:
    """Let incoming calls ring until the test answers or rejects them."""


@dataclass(frozen=True)
class AutoAnswer:
    """Answer each incoming call with 200 OK `delay` seconds after its INVITE arrived."""

    delay: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay < 3600.0:
            raise ValueError(f"auto-answer delay must be in [0, 3600) s, not {self.delay}")


@dataclass(frozen=True)
class AutoReject:
    """Reject each incoming call with a final status code (486 Busy Here by default)."""

    code: int = 486

    def __post_init__(self) -> None:
        if not 300 <= self.code <= 699:
            raise ValueError(f"a rejection needs a final non-2xx status code, not {self.code}")


AnswerPolicy = Manual | AutoAnswer | AutoReject

Headers = tuple[tuple[str, str], ...]


class PhoneCall:
    """One call leg on one phone; a live view that the pjsua2 thread keeps up to date.

    Tests hold these records; the pjsua2 Call object behind a record never leaves the fleet's
    thread.
    """

    direction: str = "?"

    def __init__(self, cond: threading.Condition, extension: str, key: int) -> None:
        self._cond = cond
        self.extension = extension
        self.key = key
        self._sip_call_id = ""
        self._remote_uri = ""
        self._timeline: list[StateChange] = []
        self._media = "NONE"
        self._transfers: list[TransferNotice] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.extension}#{self.key} {self.describe()}>"

    @property
    def sip_call_id(self) -> str:
        """The SIP Call-ID of this leg (empty until pjsua2 created the dialog)."""
        with self._cond:
            return self._sip_call_id

    @property
    def remote_uri(self) -> str:
        """The remote party as in the dialog's From or To header (name-addr form)."""
        with self._cond:
            return self._remote_uri

    @property
    def timeline(self) -> tuple[StateChange, ...]:
        """Every state this call entered, oldest first."""
        with self._cond:
            return tuple(self._timeline)

    @property
    def state(self) -> CallState:
        """The state the call is in now."""
        with self._cond:
            return self._timeline[-1].state if self._timeline else "NULL"

    @property
    def last_status(self) -> int:
        """The last SIP status code pjsua2 reported for the call (e.g. 486 after a busy)."""
        with self._cond:
            return self._timeline[-1].status_code if self._timeline else 0

    @property
    def media(self) -> str:
        """The audio state: NONE, ACTIVE, LOCAL_HOLD, REMOTE_HOLD or ERROR."""
        with self._cond:
            return self._media

    @property
    def transfers(self) -> tuple[TransferNotice, ...]:
        """Progress of the REFERs this phone sent on the call."""
        with self._cond:
            return tuple(self._transfers)

    def reached(self, state: CallState) -> StateChange | None:
        """Return when the call first entered `state`, or None if it has not (yet)."""
        with self._cond:
            return next((change for change in self._timeline if change.state == state), None)

    def describe(self) -> str:
        """Summarise the call for error messages: direction, remote party, current state."""
        with self._cond:
            last = self._timeline[-1] if self._timeline else None
            now = f"{last.state} {last.status_code or ''} {last.reason}" if last else "NULL"
            return f"{self.direction} {self._remote_uri or '?'} [{' '.join(now.split())}]"

    # The methods below are called by the pjsua2 thread with the lock held.

    def record_dialog(self, sip_call_id: str, remote_uri: str) -> None:
        """Remember the dialog's identity once pjsua2 knows it."""
        self._sip_call_id = sip_call_id or self._sip_call_id
        self._remote_uri = remote_uri or self._remote_uri

    def record_state(self, change: StateChange) -> bool:
        """Append a state change; return False when it repeats the current state."""
        if self._timeline and self._timeline[-1].state == change.state:
            return False
        self._timeline.append(change)
        return True

    def record_media(self, status: str) -> None:
        """Remember the call's audio state after an SDP negotiation."""
        self._media = status

    def record_transfer(self, notice: TransferNotice) -> None:
        """Remember one NOTIFY about a REFER this phone sent."""
        self._transfers.append(notice)


class IncomingCall(PhoneCall):
    """A call that rang this phone, with what its INVITE carried."""

    direction = "from"

    def __init__(
        self,
        cond: threading.Condition,
        extension: str,
        key: int,
        *,
        invite_at: float,
        source: str,
        headers: Headers,
    ) -> None:
        super().__init__(cond, extension, key)
        self.invite_at = invite_at
        self.source = source
        self.headers = headers
        self._timeline.append(StateChange("INCOMING", invite_at, 0, "INVITE received"))

    @property
    def caller_name(self) -> str:
        """The display name of the caller (Asterisk sets it from the endpoint's callerid)."""
        return parse_name_addr(self.remote_uri)[0]

    @property
    def caller_number(self) -> str:
        """The user part of the caller's URI: the calling extension or number."""
        return parse_name_addr(self.remote_uri)[1]

    def header(self, name: str) -> str | None:
        """Return the first value of a header of the INVITE (case-insensitive name), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class OutgoingCall(PhoneCall):
    """A call this phone placed."""

    direction = "to"

    def __init__(
        self, cond: threading.Condition, extension: str, key: int, *, target: str, placed_at: float
    ) -> None:
        super().__init__(cond, extension, key)
        self.target = target
        self.placed_at = placed_at
        self._remote_uri = target


def parse_headers(message: str) -> Headers:
    """Split a SIP message's header block into (name, value) pairs, unfolding continuations."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    headers: list[tuple[str, str]] = []
    for line in head.split("\n")[1:]:  # the first line is the request line
        if line[:1] in (" ", "\t") and headers:  # RFC 3261 7.3.1: header folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return tuple(headers)


def parse_name_addr(text: str) -> tuple[str, str]:
    """Return (display name, user part) of a name-addr such as `"Agent 1001" <sip:1001@h>`."""
    display, _, rest = text.partition("<")
    uri = rest.split(">", 1)[0] if rest else display
    display = display.strip().strip('"') if rest else ""
    user = uri.split(":", 1)[-1].split("@", 1)[0] if "@" in uri else ""
    return display, user.split(";", 1)[0]
