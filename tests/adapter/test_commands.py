"""AsteriskCommands: the headers each command sends and what it refuses, over a recording fake."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from cti.errors import ValidationFailed
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.frame import AmiFrame


class RecordingSender:
    """Answers every action with one scripted result and remembers what it was asked."""

    def __init__(self, result: AmiFrame | list[AmiFrame] | None = None) -> None:
        self.sent: list[list[tuple[str, str]]] = []
        self.result = result if result is not None else AmiFrame.of(Response="Success")

    async def send_action(
        self,
        action: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        timeout_s: float | None = None,
    ) -> AmiFrame | list[AmiFrame]:
        self.sent.append(list(action.items()) if isinstance(action, Mapping) else list(action))
        return self.result


async def test_originate_headers() -> None:
    sender = RecordingSender(
        AmiFrame.of(Response="Success", Message="Originate successfully queued")
    )
    result = await AsteriskCommands(sender).originate(
        "PJSIP/1001",
        "from-internal",
        "0123456789",
        caller_id='"Agent" <1001>',
        variables={"CTI_ORIGINATE_ID": "abc", "__CTI_AGENT": "42"},
        timeout_s=25,
        action_id="orig-1",
    )
    assert result.action_id == "orig-1"
    assert result.message == "Originate successfully queued"
    assert sender.sent == [
        [
            ("Action", "Originate"),
            ("ActionID", "orig-1"),
            ("Channel", "PJSIP/1001"),
            ("Context", "from-internal"),
            ("Exten", "0123456789"),
            ("Priority", "1"),
            ("Timeout", "25000"),
            ("Async", "true"),
            ("CallerID", '"Agent" <1001>'),
            ("Variable", "CTI_ORIGINATE_ID=abc"),
            ("Variable", "__CTI_AGENT=42"),
        ]
    ]


async def test_originate_generates_an_action_id() -> None:
    sender = RecordingSender()
    result = await AsteriskCommands(sender).originate("PJSIP/1001", "ctx", "100")
    assert result.action_id.startswith("originate-")
    assert ("ActionID", result.action_id) in sender.sent[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endpoint_channel": "PJSIP/1001\r\nAction: Command"}, "endpoint_channel"),
        ({"exten": "100\r\nAction: Command"}, "exten"),
        ({"context": "a\nb"}, "context"),
        ({"caller_id": "x\x00"}, "caller_id"),
        ({"exten": ""}, "exten is required"),
        ({"variables": {"A": "1,B=2"}}, "split"),
        ({"variables": {"A=B": "1"}}, "variable name"),
        ({"variables": {"A": "x\r\nAction: Hangup"}}, "variable A"),
        ({"timeout_s": 0}, "timeout"),
        ({"priority": 0}, "priority"),
        ({"action_id": "id\r\n"}, "action_id"),
    ],
)
async def test_originate_refuses_before_sending(kwargs: dict[str, object], match: str) -> None:
    sender = RecordingSender()
    args: dict[str, object] = {"endpoint_channel": "PJSIP/1", "context": "c", "exten": "1"}
    args.update(kwargs)
    with pytest.raises(ValidationFailed, match=match):
        await AsteriskCommands(sender).originate(**args)  # type: ignore[arg-type]
    assert sender.sent == []


async def test_call_control_headers() -> None:
    sender = RecordingSender()
    commands = AsteriskCommands(sender)
    await commands.hangup("PJSIP/1001-1", cause=17)
    await commands.redirect("PJSIP/1-1", "park", "700", extra_channel="PJSIP/2-2")
    await commands.blind_transfer("PJSIP/1-1", "from-internal", "2000")
    await commands.attended_transfer("PJSIP/1-1", "2001")
    await commands.queue_pause("PJSIP/1001", True, queue="sales", reason="lunch")
    await commands.queue_pause("PJSIP/1001", False)
    await commands.ping()
    assert sender.sent == [
        [("Action", "Hangup"), ("Channel", "PJSIP/1001-1"), ("Cause", "17")],
        [
            ("Action", "Redirect"),
            ("Channel", "PJSIP/1-1"),
            ("Context", "park"),
            ("Exten", "700"),
            ("Priority", "1"),
            ("ExtraChannel", "PJSIP/2-2"),
            ("ExtraContext", "park"),
            ("ExtraExten", "700"),
            ("ExtraPriority", "1"),
        ],
        [
            ("Action", "BlindTransfer"),
            ("Channel", "PJSIP/1-1"),
            ("Context", "from-internal"),
            ("Exten", "2000"),
        ],
        [("Action", "Atxfer"), ("Channel", "PJSIP/1-1"), ("Exten", "2001")],
        [
            ("Action", "QueuePause"),
            ("Interface", "PJSIP/1001"),
            ("Paused", "true"),
            ("Queue", "sales"),
            ("Reason", "lunch"),
        ],
        [("Action", "QueuePause"), ("Interface", "PJSIP/1001"), ("Paused", "false")],
        [("Action", "Ping")],
    ]


async def test_hangup_cause_range_and_injection() -> None:
    sender = RecordingSender()
    with pytest.raises(ValidationFailed, match="cause"):
        await AsteriskCommands(sender).hangup("PJSIP/1-1", cause=500)
    with pytest.raises(ValidationFailed, match="channel"):
        await AsteriskCommands(sender).hangup("PJSIP/1-1\r\nAction: Command")
    with pytest.raises(ValidationFailed):
        await AsteriskCommands(sender).send({"Action": "Command", "Command": "core stop\r\n"})
    assert sender.sent == []


async def test_list_commands_return_items_only() -> None:
    ack = AmiFrame.of(Response="Success", EventList="start")
    items = [AmiFrame.of(Event="CoreShowChannel", Channel=f"PJSIP/{i}") for i in range(3)]
    done = AmiFrame.of(Event="CoreShowChannelsComplete", EventList="Complete")
    sender = RecordingSender([ack, *items, done])
    commands = AsteriskCommands(sender)
    assert await commands.core_show_channels() == items
    assert await commands.queue_status(queue="sales") == items
    assert sender.sent[1] == [("Action", "QueueStatus"), ("Queue", "sales")]
    assert await commands.send({"Action": "CoreShowChannels"}) == [ack, *items, done]
