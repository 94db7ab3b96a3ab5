"""Asterisk's AMI escaping of names and channel variables, undone once by the normalizer.

The frames in tests/fixtures/ami/names/ are real: SIP calls on the lab Asterisk 22 whose caller
names hold quotes, backslashes and multi-byte letters (see its README).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.core.events import Channel, ChannelCreated, ChannelUpdated, DialBegan, PbxEvent
from cti.errors import AmiProtocolError
from pbx_adapters.asterisk.escapes import unescape_c
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.normalize import Normalizer
from pbx_adapters.replay import read_recording
from tests.transcript import FIXTURES

NAMES = {
    "+442079460001": "Dan O'Brien",
    "+442079460002": "Back\\slash Ltd",
    "+442079460003": 'Ann "Annie" Lee',
    "+442079460004": "Zoë Łukasiewicz",
    "+442079460005": "山田太郎",
}


def _escape_c(text: str) -> str:
    """Asterisk's ast_escape_c (main/utils.c), to build frames as Asterisk would."""
    table = {
        "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
        "\v": "\\v", "\\": "\\\\", "'": "\\'", '"': '\\"', "?": "\\?",
    }  # fmt: skip
    return "".join(table.get(char, char) for char in text)


def _recorded_events() -> list[PbxEvent]:
    normalizer = Normalizer("lab")
    path = FIXTURES / "names" / "caller_names.jsonl"
    events = [normalizer.event(item.frame, 0.0) for item in read_recording(path)]
    assert normalizer.rejected == 0
    return [event for event in events if event is not None]


def _channels(event: PbxEvent) -> list[Channel]:
    if isinstance(event, ChannelCreated | ChannelUpdated):
        return [event.channel]
    if isinstance(event, DialBegan):
        return [c for c in (event.caller, event.callee) if c is not None]
    return []


def test_recorded_caller_names_read_as_the_caller_sent_them() -> None:
    # The trunk channel's last name, and what the agent's channel shows as connected line.
    caller_names: dict[str, str] = {}
    connected_names: dict[str, set[str]] = defaultdict(set)
    for event in _recorded_events():
        for channel in _channels(event):
            if channel.name.startswith("PJSIP/lab-trunk-"):
                caller_names[channel.caller.number] = channel.caller.name
            elif channel.name.startswith("PJSIP/1001-") and channel.connected.number in NAMES:
                connected_names[channel.connected.number].add(channel.connected.name)
    assert caller_names == NAMES
    assert {number: names for number, names in connected_names.items()} == {
        number: {name} for number, name in NAMES.items()
    }


def test_the_recording_holds_what_asterisk_escapes() -> None:
    raw = {
        value
        for item in read_recording(FIXTURES / "names" / "caller_names.jsonl")
        for key, value in item.frame
        if key in ("CallerIDName", "ConnectedLineName", "DestCallerIDName")
    }
    assert {"Dan O\\'Brien", "Back\\\\slash Ltd", 'Ann \\"Annie\\" Lee'} <= raw


def newchannel(**headers: str) -> AmiFrame:
    base = {
        "Channel": "PJSIP/lab-trunk-00000001",
        "ChannelState": "4",
        "CallerIDNum": "+442079460001",
        "CallerIDName": "Ada",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Uniqueid": "1700000000.1",
        "Linkedid": "1700000000.1",
    }
    pairs = [(k, v) for k, v in {**base, **headers}.items() if not k.endswith("ChanVariable")]
    variables = [("ChanVariable", v) for k, v in headers.items() if k.endswith("ChanVariable")]
    return AmiFrame.of(("Event", "Newchannel"), *pairs, *variables)


def created(frame: AmiFrame) -> Channel:
    event = Normalizer("lab").event(frame, 0.0)
    assert isinstance(event, ChannelCreated)
    return event.channel


@pytest.mark.parametrize(
    ("wire", "name"),
    [
        ("Dan O\\'Brien", "Dan O'Brien"),
        ("Back\\\\slash Ltd", "Back\\slash Ltd"),
        ('Ann \\"Annie\\" Lee', 'Ann "Annie" Lee'),
        ("Why\\? Ltd", "Why? Ltd"),
        ("Line\\nbreak\\tand\\rmore\\a\\b\\f\\v", "Line\nbreak\tand\rmore\a\b\f\v"),
        ("\\\\\\'", "\\'"),
        ("Zoë Łukasiewicz", "Zoë Łukasiewicz"),
    ],
)
def test_names_are_unescaped_once(wire: str, name: str) -> None:
    channel = created(newchannel(CallerIDName=wire, ConnectedLineName=wire))
    assert channel.caller.name == name
    assert channel.connected.name == name


def test_dest_prefixed_names_and_channel_variables_are_unescaped() -> None:
    frame = AmiFrame.of(
        ("Event", "DialBegin"),
        ("Channel", "PJSIP/lab-trunk-00000001"),
        ("CallerIDName", "O\\'Neil"),
        ("Uniqueid", "1.1"),
        ("ChanVariable", "CTI_TRUNK=lab\\\\trunk"),
        ("DestChannel", "PJSIP/1001-00000002"),
        ("DestCallerIDName", 'Agent \\"A\\"'),
        ("DestConnectedLineName", "O\\'Neil"),
        ("DestUniqueid", "1.2"),
        ("DestChanVariable", "CTI_DID=it\\'s"),
        ("DialString", "1001\\x"),
    )
    event = Normalizer("lab").event(frame, 0.0)
    assert isinstance(event, DialBegan) and event.caller is not None
    assert event.caller.caller.name == "O'Neil"
    assert event.caller.trunk == "lab\\trunk"
    assert event.callee.caller.name == 'Agent "A"'
    assert event.callee.connected.name == "O'Neil"
    assert event.callee.did == "it's"
    assert event.dial_string == "1001\\x"  # Asterisk sends DialString as it is


def test_headers_asterisk_does_not_escape_are_kept_as_sent() -> None:
    channel = created(newchannel(CallerIDNum="12\\34", Exten="s\\x", Context="a\\b"))
    assert channel.caller.number == "12\\34"
    assert (channel.exten, channel.context) == ("s\\x", "a\\b")


@pytest.mark.parametrize("wire", ["trailing\\", "bad \\x escape", "\\0"])
def test_a_backslash_asterisk_would_have_escaped_is_a_protocol_error(wire: str) -> None:
    normalizer = Normalizer("lab")
    with pytest.raises(AmiProtocolError) as raised:
        normalizer.event(newchannel(CallerIDName=wire), 0.0)
    assert raised.value.details["header"] == "CallerIDName"
    assert normalizer.rejected == 1


def test_a_bad_channel_variable_is_a_protocol_error() -> None:
    normalizer = Normalizer("lab")
    with pytest.raises(AmiProtocolError):
        normalizer.event(newchannel(ChanVariable="CTI_DID=12\\"), 0.0)
    assert normalizer.rejected == 1


@given(st.text(max_size=80))
def test_unescape_undoes_asterisks_escape(text: str) -> None:
    assert unescape_c(_escape_c(text), "CallerIDName") == text


@given(st.text(max_size=80))
def test_unescape_leaves_text_without_backslashes_alone(text: str) -> None:
    text = text.replace("\\", "")
    assert unescape_c(text, "CallerIDName") is text


HEADER_NAMES = st.sampled_from(
    [
        "CallerIDName", "ConnectedLineName", "CallerIDNum", "ChanVariable", "Channel",
        "Uniqueid", "ChannelState", "DestCallerIDName", "DestChannel", "DestUniqueid",
        "DestChanVariable", "Cause", "BridgeNumChannels", "Timestamp", "Queue", "Position",
    ]
) | st.text(max_size=12)  # fmt: skip
EVENTS = st.sampled_from(
    ["Newchannel", "NewCallerid", "Hangup", "DialBegin", "BridgeEnter", "QueueCallerJoin",
     "AgentCalled", "AttendedTransfer", "CoreShowChannel", "VarSet"]
)  # fmt: skip
VALUES = st.text(max_size=40) | st.sampled_from(
    ["\\", "a\\'b", "CTI_DID=\\", "CTI_DID=x\\\\y", "CTI_TRUNK=\\q", "<unknown>", "1.1", "6"]
)


@settings(max_examples=400)
@given(event=EVENTS, headers=st.lists(st.tuples(HEADER_NAMES, VALUES), max_size=14))
def test_any_frame_either_normalizes_or_raises_the_protocol_error(
    event: str, headers: list[tuple[str, str]]
) -> None:
    frame = AmiFrame.from_pairs([("Event", event), *headers])
    normalizer = Normalizer("lab")
    try:
        normalizer.event(frame, 0.0)
    except AmiProtocolError:
        assert normalizer.rejected == 1
    normalizer.listed_channels([frame])  # a bad CoreShowChannel is counted, never raised
