"""The AMI actions behind listen/whisper/barge and recording: their headers, and what they
refuse before anything is sent."""

from __future__ import annotations

import pytest

from cti.errors import ValidationFailed
from pbx_adapters.asterisk.commands import AsteriskCommands
from tests.adapter.test_commands import RecordingSender


async def test_monitor_and_recording_headers() -> None:
    sender = RecordingSender()
    commands = AsteriskCommands(sender)
    await commands.set_variable("PJSIP/1001-00000001", "CTI_RECORD_FILE", "rec-1")
    await commands.play_dtmf("PJSIP/1010-00000002", "5", receive=True)
    await commands.play_dtmf("PJSIP/1010-00000002", "#")
    await commands.mute_recording("PJSIP/1001-00000001", True)
    await commands.mute_recording("PJSIP/1001-00000001", False)
    await commands.stop_recording("PJSIP/1001-00000001")
    assert sender.sent == [
        [
            ("Action", "Setvar"),
            ("Channel", "PJSIP/1001-00000001"),
            ("Variable", "CTI_RECORD_FILE"),
            ("Value", "rec-1"),
        ],
        [
            ("Action", "PlayDTMF"),
            ("Channel", "PJSIP/1010-00000002"),
            ("Digit", "5"),
            ("Receive", "true"),
        ],
        [("Action", "PlayDTMF"), ("Channel", "PJSIP/1010-00000002"), ("Digit", "#")],
        [
            ("Action", "MixMonitorMute"),
            ("Channel", "PJSIP/1001-00000001"),
            ("Direction", "both"),
            ("State", "1"),
        ],
        [
            ("Action", "MixMonitorMute"),
            ("Channel", "PJSIP/1001-00000001"),
            ("Direction", "both"),
            ("State", "0"),
        ],
        [("Action", "StopMixMonitor"), ("Channel", "PJSIP/1001-00000001")],
    ]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.play_dtmf("PJSIP/1010-1", "55"), "DTMF digit"),
        (lambda c: c.play_dtmf("PJSIP/1010-1", "x"), "DTMF digit"),
        (lambda c: c.play_dtmf("", "4"), "channel is required"),
        (lambda c: c.set_variable("PJSIP/1001-1", "BAD NAME", "x"), "variable name"),
        (lambda c: c.set_variable("PJSIP/1001-1", "CTI_X", "a\r\nAction: Command"), "CTI_X"),
        (lambda c: c.mute_recording("PJSIP/1001-1\nAction: Hangup", True), "channel"),
    ],
)
async def test_refused_before_sending(call: object, match: str) -> None:
    sender = RecordingSender()
    with pytest.raises(ValidationFailed, match=match):
        await call(AsteriskCommands(sender))  # type: ignore[operator]
    assert sender.sent == []
