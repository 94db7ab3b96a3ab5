"""MonitorService with a recording fake PBX: who may listen, what reaches the PBX, the modes,
and that a refusal sends nothing."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from cti.core.events import PbxBooted
from cti.core.updates import CallEnded, CallState, CallView
from cti.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cti.monitoring import Mode, MonitorService
from cti.pop.directory import Directory, GroupConfig
from cti.principal import Principal, Role
from tests.supervisor.test_live import view

SAM = Principal("sam", "Sam", Role.SUPERVISOR)
SUE = Principal("sue", "Sue", Role.SUPERVISOR)
ALICE = Principal("alice", "Alice", Role.AGENT)
ROOT = Principal("root", "Root", Role.ADMIN)
TICK = PbxBooted(server="lab", at=0.0)  # an AMI event that means nothing to monitoring

DIRECTORY = Directory(
    endpoint_owners={"PJSIP/1001": ("alice",), "PJSIP/1010": ("sam",), "PJSIP/1009": ("sue",)},
    groups={"Sales": GroupConfig("Sales"), "Support": GroupConfig("Support")},
    did_groups={"442079460100": "Sales"},
    agent_groups={"alice": ("Sales",)},
)


class FakePbx:
    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    async def originate(
        self,
        endpoint_channel: str,
        context: str,
        exten: str,
        *,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        action_id: str | None = None,
        priority: int = 1,
    ) -> object:
        self.sent.append(("originate", endpoint_channel, context, exten, dict(variables or {})))
        return None

    async def play_dtmf(self, channel: str, digit: str, *, receive: bool = False) -> object:
        self.sent.append(("dtmf", channel, digit, receive))
        return None

    async def hangup(self, channel: str, cause: int = 16) -> object:
        self.sent.append(("hangup", channel))
        return None


class Calls:
    def __init__(self) -> None:
        self.calls: list[CallView] = [
            view("c1", state=CallState.ANSWERED, agent="PJSIP/1001", did="442079460100")
        ]
        self.channels = {"c1": {"caller": "PJSIP/lab-trunk-1", "PJSIP/1001": "PJSIP/1001-2"}}

    def active_calls(self) -> list[CallView]:
        return list(self.calls)

    def channels_of(self, call_id: str) -> dict[str, str]:
        return self.channels.get(call_id, {})


class Told:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, object]]] = []

    def monitoring(self, agent: str, data: Mapping[str, object]) -> None:
        self.got.append((agent, dict(data)))


def service(
    tell: bool = True,
) -> tuple[MonitorService, FakePbx, Calls, Told, list[tuple[str, str]]]:
    pbx, calls, told, audited = FakePbx(), Calls(), Told(), []

    async def supervisors_of(group: str) -> tuple[str, ...]:
        return {"Sales": ("sam",), "Support": ("sue",)}[group]

    async def tell_agent(group: str) -> bool:
        return tell

    async def audit(kind: str, details: Mapping[str, object], actor: str) -> None:
        audited.append((kind, actor))

    monitor = MonitorService(
        calls=calls,
        servers={"lab": pbx},
        directory=lambda: DIRECTORY,
        supervisors_of=supervisors_of,
        endpoints_of=lambda user: [e for e, o in DIRECTORY.endpoint_owners.items() if user in o],
        tell_agent=tell_agent,
        notifier=told,
        audit=audit,
    )
    return monitor, pbx, calls, told, audited


async def test_a_supervisor_of_the_group_listens_switches_and_leaves() -> None:
    monitor, pbx, calls, told, audited = service()
    session = await monitor.start(SAM, "c1", Mode.LISTEN)
    assert pbx.sent == [
        (
            "originate",
            "PJSIP/1010",
            "cti-spy",
            "l",
            {"CTI_SPY_TARGET": "PJSIP/1001", "CTI_ORIGINATE_ID": session.originate_id},
        )
    ]
    with pytest.raises(Conflict, match="not answered yet"):  # the phone still rings
        await monitor.switch(SAM, session.id, Mode.WHISPER)
    calls.calls.append(view("c2", state=CallState.ANSWERED, originate_id=session.originate_id))
    calls.channels["c2"] = {"caller": "PJSIP/1010-3"}
    await monitor.switch(SAM, session.id, Mode.WHISPER)
    await monitor.switch(SAM, session.id, Mode.BARGE)
    await monitor.leave(SAM, session.id)
    assert pbx.sent[1:] == [
        ("dtmf", "PJSIP/1010-3", "5", True),
        ("dtmf", "PJSIP/1010-3", "6", True),
        ("hangup", "PJSIP/1010-3"),
    ]
    assert [k for k, _ in audited] == [
        "monitor.started",
        "monitor.mode",
        "monitor.mode",
        "monitor.left",
    ]
    assert [d["event"] for agent, d in told.got if agent == "alice"] == [
        "started",
        "mode",
        "mode",
        "ended",
    ]
    assert monitor.sessions_of(SAM) == []


@pytest.mark.parametrize("who", [SUE, ALICE, ROOT])
async def test_anyone_else_is_refused_and_nothing_reaches_the_pbx(who: Principal) -> None:
    monitor, pbx, _, told, audited = service()
    with pytest.raises(PermissionDenied):
        await monitor.start(who, "c1", Mode.LISTEN)
    assert pbx.sent == [] and told.got == [] and audited == []


async def test_unknown_calls_modes_and_others_sessions() -> None:
    monitor, pbx, calls, told, _ = service(tell=False)
    with pytest.raises(NotFound):
        await monitor.start(SAM, "nope", Mode.LISTEN)
    with pytest.raises(ValidationFailed):
        Mode.parse("shout")
    session = await monitor.start(SAM, "c1", Mode.BARGE)
    assert pbx.sent[0][3] == "b"
    with pytest.raises(NotFound):  # only the supervisor's own session
        await monitor.leave(SUE, session.id)
    monitor.observe(TICK, [CallEnded(calls.calls[0], None)])  # the agent's call ended
    assert monitor.sessions_of(SAM) == []
    await monitor.close()
    assert [who for who, _ in told.got] == ["sam"]  # the group does not tell its agents
