"""Agent states over a fake queue port: pauses sent, states learned back, wrap-up timers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from cti.agent_state import AgentState, AgentStates, AgentStatus, check_reason
from cti.core.events import Party, QueueMemberChanged
from cti.core.records import CallRecord, Direction, Outcome
from cti.core.updates import CallEnded, CallState, CallView
from cti.errors import Conflict, ValidationFailed
from cti.pop.directory import Directory, GroupConfig, WrapupScope
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.queue_control import queue_member

DIRECTORY = Directory(
    endpoint_owners={"PJSIP/1001": ("alice",), "PJSIP/1003": ("carol",)},
    groups={"Support": GroupConfig("Support", wrapup_seconds=1)},
    agent_groups={"carol": ("Support",)},
)


class Queues:
    """The QueueControl port in memory: what was paused, and the members it lists."""

    def __init__(self, members: list[QueueMemberChanged] | None = None) -> None:
        self.pauses: list[tuple[str, bool, str]] = []
        self.listed = members or []
        self.in_queues = {"PJSIP/1001", "PJSIP/1003"}

    async def pause(self, interface: str, paused: bool, reason: str) -> bool:
        self.pauses.append((interface, paused, reason))
        return interface in self.in_queues

    async def members(self) -> list[QueueMemberChanged]:
        return self.listed


def member(interface: str, paused: bool, reason: str = "") -> QueueMemberChanged:
    return QueueMemberChanged(
        server="lab",
        at=0.0,
        queue="sales",
        interface=interface,
        member_name="",
        paused=paused,
        pause_reason=reason,
        status=1,
        in_call=False,
    )


def ended(
    endpoint: str, outcome: Outcome = Outcome.ANSWERED, queue: str | None = "support"
) -> CallEnded:
    """An ended call answered by ``endpoint``; ``queue`` None: a direct call to its DID."""
    now = datetime.now(UTC)
    view = CallView(
        call_id="lab:1.1",
        server="lab",
        direction=Direction.INBOUND,
        state=CallState.ENDED,
        caller=Party("+442079460001", ""),
        called_number="442079461003",
        did="442079461003",
        trunk=None,
        queue=queue,
        started_at=0.0,
        answered_at=1.0,
        agent=endpoint,
        ringing=(),
        transferred_from=None,
        originate_id=None,
        flags=(),
    )
    record = CallRecord(
        call_id="lab:1.1",
        server="lab",
        direction=Direction.INBOUND,
        outcome=outcome,
        started_at=now,
        ended_at=now,
        caller_number="+442079460001",
        called_number="442079461003",
        answered_by=endpoint if outcome is Outcome.ANSWERED else None,
        queue=queue,
    )
    return CallEnded(view, record)


@pytest.fixture
def seen() -> list[tuple[str, AgentState]]:
    return []


@pytest.fixture
def states(seen: list[tuple[str, AgentState]]) -> tuple[AgentStates, Queues]:
    queues = Queues([member("PJSIP/1001", True, "Lunch")])
    return AgentStates(queues, lambda: DIRECTORY, lambda a, s: seen.append((a, s))), queues


async def test_the_first_read_asks_the_pbx(states: tuple[AgentStates, Queues]) -> None:
    service, _ = states
    state = await service.current("alice")
    assert (state.status, state.reason) == (AgentStatus.PAUSED, "Lunch")


async def test_pausing_and_readying_go_to_the_queues(
    states: tuple[AgentStates, Queues], seen: list[tuple[str, AgentState]]
) -> None:
    service, queues = states
    await service.set_paused("alice", " Break ")
    await service.set_ready("alice")
    assert queues.pauses == [("PJSIP/1001", True, "Break"), ("PJSIP/1001", False, "")]
    assert [(a, s.status, s.reason) for a, s in seen] == [
        ("alice", AgentStatus.PAUSED, "Break"),
        ("alice", AgentStatus.READY, ""),
    ]


async def test_changes_made_elsewhere_are_learned_and_sent_once(
    states: tuple[AgentStates, Queues], seen: list[tuple[str, AgentState]]
) -> None:
    service, _ = states
    service.on_member_changed(member("PJSIP/1001", True, "Meeting"))
    service.on_member_changed(member("PJSIP/1001", True, "Meeting"))  # another queue, same
    service.on_member_changed(member("PJSIP/1002", False))  # nobody's phone
    assert [(a, s.status, s.reason) for a, s in seen] == [("alice", AgentStatus.PAUSED, "Meeting")]


async def test_wrap_up_follows_an_answered_call_then_ends_by_itself(
    states: tuple[AgentStates, Queues], seen: list[tuple[str, AgentState]]
) -> None:
    service, queues = states
    service.on_call_ended(ended("PJSIP/1003"))
    state = service.state_of("carol")
    assert state.status is AgentStatus.WRAPUP and state.until is not None
    await asyncio.sleep(1.3)
    assert service.state_of("carol").status is AgentStatus.READY
    assert queues.pauses == [("PJSIP/1003", True, "wrap-up"), ("PJSIP/1003", False, "")]
    await service.close()


async def test_no_wrap_up_without_an_answer_or_when_paused(
    states: tuple[AgentStates, Queues],
) -> None:
    service, _ = states
    service.on_call_ended(ended("PJSIP/1003", Outcome.MISSED))
    await service.set_paused("carol", "Lunch")
    service.on_call_ended(ended("PJSIP/1003"))
    assert service.state_of("carol").status is AgentStatus.PAUSED
    service.on_call_ended(ended("PJSIP/1001"))  # alice's group has no wrap-up
    assert service.state_of("alice").status is AgentStatus.UNKNOWN
    await service.close()


async def test_ready_ends_wrap_up_early(states: tuple[AgentStates, Queues]) -> None:
    service, queues = states
    service.on_call_ended(ended("PJSIP/1003"))
    await asyncio.sleep(0)
    await service.set_ready("carol")
    await asyncio.sleep(1.3)
    assert queues.pauses[-1] == ("PJSIP/1003", False, "")
    assert [p for p in queues.pauses if not p[1]] == [("PJSIP/1003", False, "")]
    await service.close()


@pytest.mark.parametrize("reason", ["", "   ", "x" * 41, "wrap-up", "a\nb", 3])
def test_bad_pause_reasons_are_refused(reason: object) -> None:
    with pytest.raises(ValidationFailed):
        check_reason(reason)


def test_queue_status_members_are_read() -> None:
    frame = AmiFrame.of(
        ("Event", "QueueMember"),
        ("Queue", "sales"),
        ("Name", "Agent 1001"),
        ("Location", "PJSIP/1001"),
        ("StateInterface", "PJSIP/1001"),
        ("Status", "1"),
        ("Paused", "1"),
        ("PausedReason", "Lunch"),
        ("InCall", "0"),
    )
    read = queue_member("lab", frame, 5.0)
    assert read is not None
    assert (read.interface, read.paused, read.pause_reason, read.queue) == (
        "PJSIP/1001",
        True,
        "Lunch",
        "sales",
    )
    assert queue_member("lab", AmiFrame.of(("Event", "QueueParams")), 5.0) is None


async def test_an_event_from_before_a_pause_does_not_undo_it(
    states: tuple[AgentStates, Queues], seen: list[tuple[str, AgentState]]
) -> None:
    service, _ = states
    service.on_call_ended(ended("PJSIP/1003"))
    # The phone went idle as the call ended: Asterisk reports it, not yet paused.
    service.on_member_changed(member("PJSIP/1003", False))
    assert service.state_of("carol").status is AgentStatus.WRAPUP
    service.on_member_changed(member("PJSIP/1003", True, "wrap-up"))  # confirmed
    service.on_member_changed(member("PJSIP/1003", False))  # now a real change (a supervisor)
    assert service.state_of("carol").status is AgentStatus.READY
    await service.close()


def _service(scope: WrapupScope, seconds: int = 30) -> tuple[AgentStates, Queues]:
    group = GroupConfig("Support", wrapup_seconds=seconds, wrapup_applies_to=scope)
    directory = Directory(
        endpoint_owners={"PJSIP/1003": ("carol",)},
        groups={"Support": group},
        agent_groups={"carol": ("Support",)},
    )
    queues = Queues()
    return AgentStates(queues, lambda: directory, lambda a, s: None), queues


async def test_direct_calls_have_no_wrap_up_by_default() -> None:
    service, queues = _service("queue")
    service.on_call_ended(ended("PJSIP/1003", queue=None))
    await asyncio.sleep(0)
    assert service.state_of("carol").status is AgentStatus.UNKNOWN
    assert queues.pauses == []  # no queue pause: the queue's callers still reach carol
    service.on_call_ended(ended("PJSIP/1003", queue="support"))
    await asyncio.sleep(0)
    assert service.state_of("carol").status is AgentStatus.WRAPUP
    assert queues.pauses == [("PJSIP/1003", True, "wrap-up")]
    await service.close()


@pytest.mark.parametrize(
    ("scope", "queue", "wraps"),
    [("all", None, True), ("all", "support", True), ("none", "support", False)],
)
async def test_the_group_says_which_calls_have_wrap_up(
    scope: WrapupScope, queue: str | None, wraps: bool
) -> None:
    service, _ = _service(scope)
    service.on_call_ended(ended("PJSIP/1003", queue=queue))
    assert (service.state_of("carol").status is AgentStatus.WRAPUP) is wraps
    await service.close()


async def test_wrap_up_never_stacks() -> None:
    service, _ = _service("queue", seconds=30)
    service.on_call_ended(ended("PJSIP/1003"))
    first = service.state_of("carol")
    assert first.until is not None and first.until - first.since == 30
    await asyncio.sleep(0.05)
    service.on_call_ended(ended("PJSIP/1003", queue=None))  # a direct call: leaves it be
    assert service.state_of("carol").until == first.until
    await asyncio.sleep(0.05)
    service.on_call_ended(ended("PJSIP/1003"))  # a queue call: 30 s from its own end
    again = service.state_of("carol")
    assert again.until is not None and again.until - again.since == 30
    assert 0 < again.until - first.until < 1  # restarted, not 30 + what was left
    await service.close()


async def test_the_agent_ends_wrap_up_early() -> None:
    service, queues = _service("queue", seconds=30)
    with pytest.raises(Conflict):
        await service.end_wrapup("carol")
    service.on_call_ended(ended("PJSIP/1003"))
    await asyncio.sleep(0)
    state, left = await service.end_wrapup("carol")
    assert state.status is AgentStatus.READY and 29 < left <= 30
    assert queues.pauses[-1] == ("PJSIP/1003", False, "")
    assert service.wrapup_of("carol") is None
    await service.close()
