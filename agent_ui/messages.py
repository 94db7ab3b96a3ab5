"""Every message the daemon sends an agent's browser is built here, and only here.

Builders are pure: they return an :class:`~agent_ui.protocol.Outgoing` without a ``seq`` (the
hub numbers it) and hold nothing but JSON values. docs/protocol.md shows each one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeVar

from agent_ui.protocol import (
    MAX_CALL_ID_CHARS,
    MAX_DISPOSITION_CHARS,
    MAX_FRAME_BYTES,
    MAX_NOTES_CHARS,
    PROTOCOL_VERSION,
    Outgoing,
)
from cti.errors import CtiError, ValidationFailed
from cti.principal import Principal

__all__ = [
    "ActivePop",
    "CallPhase",
    "DialOutcome",
    "DismissReason",
    "ResumeInfo",
    "agent_state",
    "call_state",
    "dial_numbers",
    "dial_status",
    "disposition_saved",
    "error",
    "hello",
    "notes_saved",
    "pong",
    "pop",
    "pop_dismissed",
    "pop_update",
    "recording",
    "snapshot",
]

_E = TypeVar("_E", bound=StrEnum)

ActivePop = tuple[str, str, Mapping[str, object]]  # (call id, html, pop data) of an open pop


class DismissReason(StrEnum):
    """Why a pop went away before the agent took the call (cti.core.updates.RingEndReason)."""

    ANSWERED_ELSEWHERE = "answered_elsewhere"
    ABANDONED = "abandoned"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    ENDED = "ended"


class CallPhase(StrEnum):
    """What happened to a call the agent has a pop for."""

    ANSWERED = "answered"
    HELD = "held"
    RESUMED = "resumed"
    TRANSFERRED = "transferred"  # the call moved to another agent: this pop is done
    ENDED = "ended"


class DialOutcome(StrEnum):
    """How the agent's own phone took a click-to-dial call (AMI OriginateResponse)."""

    ANSWERED = "answered"  # the agent picked up; the number is being dialled
    FAILED = "failed"  # the phone did not answer, was busy or unreachable


@dataclass(frozen=True, slots=True)
class ResumeInfo:
    """How a new connection was brought up to date; ``hello`` carries it.

    ``seq`` is where the connection stands after ``hello``: the client's ``last_seq`` for a
    replay (the missed messages follow), the agent's latest seq for a snapshot.
    """

    mode: Literal["replay", "snapshot"]
    epoch: str
    seq: int
    replayed: int = 0


def hello(principal: Principal, resume: ResumeInfo, *, server_time: float) -> Outgoing:
    """Greet a connection: who the daemon thinks it is, and how it was caught up."""
    return Outgoing(
        "hello",
        {
            "protocol": PROTOCOL_VERSION,
            "agent": {
                "username": principal.username,
                "display_name": principal.display_name,
                "role": str(principal.role),
            },
            "server_time": server_time,
            "resume": {
                "mode": resume.mode,
                "epoch": resume.epoch,
                "seq": resume.seq,
                "replayed": resume.replayed,
            },
            "limits": {
                "max_frame_bytes": MAX_FRAME_BYTES,
                "max_notes_chars": MAX_NOTES_CHARS,
                "max_call_id_chars": MAX_CALL_ID_CHARS,
                "max_disposition_chars": MAX_DISPOSITION_CHARS,
            },
        },
    )


def pop(call_id: str, html: str, data: Mapping[str, object]) -> Outgoing:
    """Show a new pop card: rendered ``html`` plus the structured data it was rendered from."""
    return Outgoing("pop", _card(call_id, html, data))


def pop_update(call_id: str, html: str, data: Mapping[str, object]) -> Outgoing:
    """Replace an open pop card (late CRM data, answered, transferred in with notes)."""
    return Outgoing("pop_update", _card(call_id, html, data))


def pop_dismissed(call_id: str, reason: str | DismissReason) -> Outgoing:
    """Take a pop away: the call stopped ringing this agent."""
    return Outgoing(
        "pop_dismissed", {"call_id": call_id, "reason": str(_member(DismissReason, reason))}
    )


def call_state(
    call_id: str, state: str | CallPhase, detail: Mapping[str, object] | None = None
) -> Outgoing:
    """Tell the agent what happened to a call it has a pop for."""
    phase = _member(CallPhase, state)
    return Outgoing(
        "call_state", {"call_id": call_id, "state": str(phase), "detail": dict(detail or {})}
    )


def snapshot(pops: Iterable[ActivePop]) -> Outgoing:
    """Replace everything the page shows with the agent's open pops (after a gap in seq)."""
    return Outgoing("snapshot", {"pops": [_card(c, html, data) for c, html, data in pops]})


_RECORDING_EVENTS = frozenset({"started", "paused", "resumed", "ended"})


def recording(data: Mapping[str, object]) -> Outgoing:
    """Tell every tab of the agent that their call's recording started, was paused or resumed,
    or ended (the indicator and Pause/Resume on the card). Live, not numbered: the next frame
    says the whole state again. Only the fields the desktop shows go out, checked here."""
    event, paused = data.get("event"), data.get("paused")
    if event not in _RECORDING_EVENTS or not isinstance(paused, bool):
        raise ValueError(f"not a recording frame: event {event!r}, paused {paused!r}")
    keys = ("call_id", "recording", "policy")
    if not all(isinstance(data.get(k), str) for k in keys):
        raise ValueError(f"a recording frame names {', '.join(keys)}: {dict(data)!r}")
    body = {k: data[k] for k in keys}
    return Outgoing("recording", {"event": event, "paused": paused, **body})


def agent_state(state: Mapping[str, object]) -> Outgoing:
    """Tell every tab of the agent their state: ready, paused (reason) or wrap-up (until)."""
    return Outgoing("agent_state", dict(state))


def dial_status(
    originate_id: str, number: str, outcome: str | DialOutcome, message: str = ""
) -> Outgoing:
    """Tell the agent how their click-to-dial request went once their phone answered or not."""
    return Outgoing(
        "dial_status",
        {
            "originate_id": originate_id,
            "number": number,
            "status": str(_member(DialOutcome, outcome)),
            "message": message,
        },
    )


def notes_saved(call_id: str, length: int, *, ref: str | None) -> Outgoing:
    """Confirm that ``length`` characters of notes are stored (sent to every tab)."""
    return Outgoing("notes_saved", {"call_id": call_id, "length": length, "ref": ref})


def disposition_saved(call_id: str, value: str, *, ref: str | None) -> Outgoing:
    """Confirm that the call's disposition is stored (sent to every tab)."""
    return Outgoing("disposition_saved", {"call_id": call_id, "value": value, "ref": ref})


def error(problem: CtiError, *, ref: str | None = None) -> Outgoing:
    """Answer a request that failed; ``error`` is the stable id clients match on."""
    return Outgoing("error", {**problem.as_dict(), "ref": ref})


def pong(ref: str | None) -> Outgoing:
    return Outgoing("pong", {"ref": ref})


# --------------------------------------------------------------------------------- helpers
def _member(enum: type[_E], value: str | _E) -> _E:
    try:
        return enum(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"{value!r} is not a {enum.__name__}", details={"allowed": [str(m) for m in enum]}
        ) from exc


def _card(call_id: str, html: str, data: Mapping[str, object]) -> dict[str, object]:
    return {"call_id": call_id, "html": html, "card": dict(data), "dial": dial_numbers(data)}


def dial_numbers(data: Mapping[str, object]) -> list[dict[str, str]]:
    """Return the click-to-dial numbers of a pop: the caller, then the matched records' phones.

    ``data`` is the pop service's context (``call``, ``matches`` with ``contact.phones`` and
    ``account.phone``); anything missing or oddly typed is skipped, never an error.
    """
    found: dict[str, str] = {}

    def add(number: object, label: object) -> None:
        if isinstance(number, str) and number and number not in found:
            found[number] = label if isinstance(label, str) else ""

    call = data.get("call")
    if isinstance(call, Mapping):
        add(call.get("caller_number"), "caller")
    matches = data.get("matches")
    for match in matches if isinstance(matches, list) else ():
        if not isinstance(match, Mapping):
            continue
        contact, account = match.get("contact"), match.get("account")
        if isinstance(contact, Mapping):
            phones = contact.get("phones")
            for phone in phones if isinstance(phones, list) else ():
                add(phone, contact.get("name"))
        if isinstance(account, Mapping):
            add(account.get("phone"), account.get("name"))
    return [{"number": number, "label": label} for number, label in found.items()]
