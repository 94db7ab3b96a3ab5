"""Call control acts only on the requesting agent's own channel of a live call."""

from __future__ import annotations

import pytest

from agent_ui.call_control import CallControl
from cti.config import DialSettings
from cti.core.events import Party
from cti.core.records import Direction
from cti.core.updates import CallState, CallView
from cti.dial_rules import DialRules
from cti.errors import DialRefused, NotFound, PermissionDenied
from cti.principal import Principal, Role

ALICE = Principal("alice", "Alice Agent", Role.AGENT)
BOB = Principal("bob", "Bob Agent", Role.AGENT)
ADA = Principal("ada", "Ada Admin", Role.ADMIN)
ENDPOINTS = {"alice": ["PJSIP/1001"], "bob": ["PJSIP/1002"]}


def view(call_id: str) -> CallView:
    return CallView(
        call_id=call_id,
        server="lab",
        direction=Direction.INBOUND,
        state=CallState.ANSWERED,
        caller=Party("+442079460001", ""),
        called_number="442079461001",
        did=None,
        trunk=None,
        queue=None,
        started_at=0.0,
        answered_at=1.0,
        agent="PJSIP/1001",
        ringing=(),
        transferred_from=None,
        originate_id=None,
        flags=(),
    )


class Tracker:
    def active_calls(self) -> list[CallView]:
        return [view("lab:1.1")]

    def channels_of(self, call_id: str) -> dict[str, str]:
        if call_id != "lab:1.1":
            return {}
        return {"caller": "PJSIP/lab-trunk-00000001", "PJSIP/1001": "PJSIP/1001-00000002"}


class Commands:
    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    async def hangup(self, channel: str, cause: int = 16) -> object:
        self.sent.append(("hangup", channel))
        return None

    async def blind_transfer(self, channel: str, context: str, exten: str) -> object:
        self.sent.append(("blind", channel, context, exten))
        return None

    async def attended_transfer(
        self, channel: str, exten: str, context: str | None = None
    ) -> object:
        self.sent.append(("attended", channel, context or "", exten))
        return None


@pytest.fixture
def control() -> tuple[CallControl, Commands]:
    commands = Commands()
    rules = DialRules(DialSettings(), "GB")
    return (
        CallControl(Tracker(), {"lab": commands}, lambda u: ENDPOINTS.get(u, []), rules, "xfer"),
        commands,
    )


async def test_hangup_names_the_agents_own_channel(control: tuple[CallControl, Commands]) -> None:
    calls, commands = control
    await calls.hangup(ALICE, "lab:1.1")
    assert commands.sent == [("hangup", "PJSIP/1001-00000002")]


async def test_someone_elses_or_an_ended_call_is_not_found(
    control: tuple[CallControl, Commands],
) -> None:
    calls, commands = control
    with pytest.raises(NotFound):
        await calls.hangup(BOB, "lab:1.1")
    with pytest.raises(NotFound):
        await calls.transfer(ALICE, "lab:9.9", "1002", "blind")
    with pytest.raises(PermissionDenied):
        await calls.hangup(ADA, "lab:1.1")
    assert commands.sent == []


async def test_transfers_check_the_target_and_use_the_transfer_context(
    control: tuple[CallControl, Commands],
) -> None:
    calls, commands = control
    assert await calls.transfer(ALICE, "lab:1.1", "1002", "blind") == "1002"
    assert await calls.transfer(ALICE, "lab:1.1", "020 7946 0002", "attended") == "+442079460002"
    with pytest.raises(DialRefused):
        await calls.transfer(ALICE, "lab:1.1", "1002&PJSIP/1003", "blind")
    with pytest.raises(DialRefused):
        await calls.transfer(ALICE, "lab:1.1", "+44 909 879 0000", "blind")
    assert commands.sent == [
        ("blind", "PJSIP/1001-00000002", "xfer", "1002"),
        ("attended", "PJSIP/1001-00000002", "xfer", "+442079460002"),
    ]
