"""Each recorded lab transcript holds the AMI events of its scenario, in the order Asterisk sent.

The skeleton of each call (channels, dials, queue, bridges, transfers, hangups) is asserted
whole; housekeeping events (device/queue-member state, DialState, connected line) are left out of
the comparison because their count depends on phone timing, not on the call flow.
"""

from __future__ import annotations

import pytest

from tests.transcript import FIXTURES, NAMES, frames

SKELETON = {
    "Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup", "QueueCallerJoin",
    "QueueCallerAbandon", "AgentCalled", "AgentConnect", "BlindTransfer", "AttendedTransfer",
    "OriginateResponse",
}  # fmt: skip

T, A1, A2 = "PJSIP/lab-trunk", "PJSIP/1001", "PJSIP/1002"
L = "Local/1002@cti-transfer"  # the two halves of an Atxfer's Local channel

EXPECTED: dict[str, list[tuple[str, str]]] = {
    "direct_answered": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A1), ("BridgeEnter", T), ("Hangup", T), ("Hangup", A1),
    ],
    "direct_not_answered": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "NOANSWER"),
        ("Hangup", A1), ("Hangup", T),
    ],
    "busy": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "BUSY"),
        ("Hangup", A1), ("Hangup", T),
    ],
    "queue_ringall_second_answers": [
        ("Newchannel", T), ("QueueCallerJoin", "sales"),
        ("Newchannel", A2), ("AgentCalled", A2), ("DialBegin", A2),
        ("Newchannel", A1), ("AgentCalled", A1), ("DialBegin", A1),
        ("DialEnd", "ANSWER"), ("DialEnd", "CANCEL"), ("DialEnd", "CANCEL"), ("Hangup", A1),
        ("AgentConnect", A2), ("BridgeEnter", A2), ("BridgeEnter", T),
        ("Hangup", A2), ("Hangup", T),
    ],
    "queue_abandoned": [
        ("Newchannel", T), ("QueueCallerJoin", "sales"),
        ("Newchannel", A2), ("AgentCalled", A2), ("DialBegin", A2),
        ("Newchannel", A1), ("AgentCalled", A1), ("DialBegin", A1),
        ("DialEnd", "CANCEL"), ("DialEnd", "CANCEL"), ("DialEnd", "CANCEL"), ("DialEnd", "CANCEL"),
        ("Hangup", A2), ("Hangup", A1), ("QueueCallerAbandon", "sales"), ("Hangup", T),
    ],
    # The Queue app's 8 s timeout: both rings end NOANSWER, then QueueCallerAbandon with no
    # HangupRequest before it (queue_log says EXITWITHTIMEOUT), and the dialplan hangs up.
    "queue_timeout": [
        ("Newchannel", T), ("QueueCallerJoin", "sales"),
        ("Newchannel", A2), ("AgentCalled", A2), ("DialBegin", A2),
        ("Newchannel", A1), ("AgentCalled", A1), ("DialBegin", A1),
        ("DialEnd", "NOANSWER"), ("DialEnd", "NOANSWER"),
        ("DialEnd", "CANCEL"), ("DialEnd", "CANCEL"), ("QueueCallerAbandon", "sales"),
        ("Hangup", A1), ("Hangup", A2), ("Hangup", T),
    ],
    "queue_login_pause_logout": [],  # queue membership changes only: no call
    "blind_transfer": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A1), ("BridgeEnter", T), ("BlindTransfer", "1002"), ("Hangup", A1),
        ("Newchannel", A2), ("DialBegin", A2), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A2), ("BridgeEnter", T), ("Hangup", A2), ("Hangup", T),
    ],
    "attended_transfer": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A1), ("BridgeEnter", T),
        ("Newchannel", A1), ("Newchannel", A2), ("DialBegin", A2), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A2), ("BridgeEnter", A1), ("BridgeEnter", T),
        ("AttendedTransfer", A2), ("Hangup", A1), ("Hangup", A1), ("Hangup", T), ("Hangup", A2),
    ],
    "desktop_attended_transfer": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A1), ("BridgeEnter", T),
        ("Newchannel", L), ("Newchannel", L), ("BridgeEnter", L), ("BridgeEnter", A1),
        ("Newchannel", A2), ("DialBegin", A2), ("DialEnd", "ANSWER"), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A2), ("BridgeEnter", L), ("BridgeEnter", L),
        ("AttendedTransfer", T), ("Hangup", A1), ("BridgeEnter", A2), ("Hangup", L),
        ("Hangup", L), ("Hangup", T), ("Hangup", A2),
    ],
    "desktop_attended_transfer_with_target": [
        ("Newchannel", T), ("Newchannel", A1), ("DialBegin", A1), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A1), ("BridgeEnter", T),
        ("Newchannel", L), ("Newchannel", L), ("BridgeEnter", L), ("Newchannel", A2),
        ("BridgeEnter", A1), ("DialBegin", A2), ("DialEnd", "ANSWER"), ("DialEnd", "ANSWER"),
        ("BridgeEnter", A2), ("BridgeEnter", L), ("BridgeEnter", L),
        ("AttendedTransfer", L), ("Hangup", A1), ("BridgeEnter", A2), ("Hangup", L),
        ("Hangup", L), ("Hangup", T), ("Hangup", A2),
    ],
    "click_to_dial": [
        ("Newchannel", A1), ("DialBegin", A1), ("OriginateResponse", "Success"),
        ("DialEnd", "ANSWER"), ("Newchannel", T), ("DialBegin", T), ("DialEnd", "ANSWER"),
        ("BridgeEnter", T), ("BridgeEnter", A1), ("Hangup", T), ("Hangup", A1),
    ],
}  # fmt: skip


def _key(headers: dict[str, str]) -> str:
    """The one detail that tells this event apart in the call flow."""
    event = headers["Event"]
    if event == "DialEnd":
        return headers["DialStatus"]
    if event in ("QueueCallerJoin", "QueueCallerAbandon"):
        return headers["Queue"]
    if event == "BlindTransfer":
        return headers["Extension"]
    if event == "OriginateResponse":
        return headers["Response"]
    if event == "AttendedTransfer" and "TransferTargetChannel" not in headers:
        return headers["TransfereeChannel"].rsplit("-", 1)[0]  # Atxfer: the held caller moves
    channel = headers.get("DestChannel") or headers.get("TransferTargetChannel")
    channel = channel or headers["Channel"]
    return channel.rsplit("-", 1)[0]


def test_every_transcript_is_covered_and_documented() -> None:
    assert set(NAMES) == set(EXPECTED)
    readme = (FIXTURES / "README.md").read_text()
    for name in NAMES:
        assert f"`{name}`" in readme, f"{name} is not described in tests/fixtures/ami/README.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_transcript_holds_the_call_flow_in_order(name: str) -> None:
    seen = []
    for frame in frames(name):
        headers = frame.as_dict()
        if headers.get("Event") in SKELETON:
            seen.append((headers["Event"], _key(headers)))
    assert seen == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_transcript_starts_logged_in_and_every_channel_ends(name: str) -> None:
    headers = [frame.as_dict() for frame in frames(name)]
    assert headers[0]["Event"] == "FullyBooted"
    created = {h["Uniqueid"] for h in headers if h.get("Event") == "Newchannel"}
    hung_up = {h["Uniqueid"] for h in headers if h.get("Event") == "Hangup"}
    assert created == hung_up
    assert all("Timestamp" in h for h in headers[1:] if h.get("Event") != "FullyBooted")
