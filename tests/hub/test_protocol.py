"""The browser protocol: strict decoding, the close code of each failure, and the builders."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ui import messages
from agent_ui.protocol import (
    MAX_FRAME_BYTES,
    MAX_NOTES_CHARS,
    MAX_SEQ,
    Disposition,
    Incoming,
    Notes,
    Outgoing,
    Ping,
    Resume,
    decode,
    encode,
    encode_incoming,
)
from cti.errors import (
    BrowserProtocolError,
    InvalidField,
    InvalidPayload,
    MessageTooBig,
    NotFound,
    UnknownMessageType,
    UnsupportedData,
    ValidationFailed,
)
from cti.principal import Principal, Role


# ------------------------------------------------------------------------------ decoding
@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"type":"resume","data":{"last_seq":null}}', Resume(None)),
        ('{"type":"resume","data":{"last_seq":7,"epoch":"e1"}}', Resume(7, "e1")),
        ('{"type":"ping"}', Ping()),
        ('{"type":"ping","ref":"r1","data":{}}', Ping("r1")),
        (
            '{"type":"notes","ref":"n1","data":{"call_id":"lab:17.2","text":"a\\nb"}}',
            Notes("lab:17.2", "a\nb", "n1"),
        ),
        ('{"type":"notes","data":{"call_id":"x","text":""}}', Notes("x", "")),
        (
            '{"type":"disposition","data":{"call_id":"x","value":"Wrong number"}}',
            Disposition("x", "Wrong number"),
        ),
    ],
)
def test_valid_messages_decode(frame: str, expected: Incoming) -> None:
    assert decode(frame) == expected


@pytest.mark.parametrize(
    ("frame", "error", "close_code"),
    [
        (b'{"type":"ping"}', UnsupportedData, 1003),
        ("x" * (MAX_FRAME_BYTES + 1), MessageTooBig, 1009),
        ('{"type":"ping","ref":"' + "é" * (MAX_FRAME_BYTES // 2) + '"}', MessageTooBig, 1009),
        ("not json", InvalidPayload, 1007),
        ("[1,2]", InvalidPayload, 1007),
        ('{"type":"ping"', InvalidPayload, 1007),
        ('{"type":"ping","type":"ping"}', InvalidPayload, 1007),
        ('{"type":"resume","data":{"last_seq":NaN}}', InvalidPayload, 1007),
        ("[" * 50_000 + "]" * 50_000, InvalidPayload, 1007),
        ('{"type":1}', InvalidPayload, 1007),
        ('{"data":{}}', InvalidPayload, 1007),
        ('{"type":"ping","data":[]}', InvalidPayload, 1007),
        ('{"type":"ping","extra":1}', InvalidPayload, 1007),
        ('{"type":"ping","ref":""}', InvalidPayload, 1007),
        ('{"type":"ping","ref":5}', InvalidPayload, 1007),
        ('{"type":"shout","ref":"r"}', UnknownMessageType, None),
        ('{"type":"resume","data":{}}', InvalidField, None),
        ('{"type":"resume","data":{"last_seq":true}}', InvalidField, None),
        ('{"type":"resume","data":{"last_seq":-1}}', InvalidField, None),
        ('{"type":"resume","data":{"last_seq":1.0}}', InvalidField, None),
        (f'{{"type":"resume","data":{{"last_seq":{MAX_SEQ + 1}}}}}', InvalidField, None),
        ('{"type":"notes","data":{"call_id":"x"}}', InvalidField, None),
        ('{"type":"notes","data":{"call_id":"a b","text":""}}', InvalidField, None),
        ('{"type":"notes","data":{"call_id":"x","text":"\\u0000"}}', InvalidField, None),
        ('{"type":"notes","data":{"call_id":"x","text":"","more":1}}', InvalidField, None),
        ('{"type":"disposition","data":{"call_id":"x","value":" Sold"}}', InvalidField, None),
        ('{"type":"disposition","data":{"call_id":"x","value":""}}', InvalidField, None),
        ('{"type":"ping","data":{"x":1}}', InvalidField, None),
    ],
)
def test_each_failure_has_its_error_and_close_code(
    frame: str | bytes, error: type[BrowserProtocolError], close_code: int | None
) -> None:
    with pytest.raises(error) as caught:
        decode(frame)
    assert caught.value.close_code == close_code


def test_notes_up_to_the_limit_pass_and_past_it_are_answered_not_closed() -> None:
    at_limit = encode_incoming(Notes("lab:1", "n" * MAX_NOTES_CHARS, "r9"))
    assert decode(at_limit) == Notes("lab:1", "n" * MAX_NOTES_CHARS, "r9")
    # the worst case for size: every character JSON-escaped still fits a frame
    escaped = encode_incoming(Notes("lab:1", "\U0001f600" * MAX_NOTES_CHARS))
    assert len(escaped) <= MAX_FRAME_BYTES
    with pytest.raises(InvalidField) as caught:
        decode(encode_incoming(Notes("lab:1", "n" * (MAX_NOTES_CHARS + 1), "r9")))
    assert caught.value.ref == "r9"
    assert caught.value.details == {
        "field": "text",
        "problem": f"longer than {MAX_NOTES_CHARS} characters",
    }


# ------------------------------------------------------------------------------ properties
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
known_types = st.sampled_from(["resume", "notes", "disposition", "ping", "pong", "hello"])
field_names = st.sampled_from(["last_seq", "epoch", "call_id", "text", "value", "x"])
envelopes = st.fixed_dictionaries(
    {"type": known_types | st.text(max_size=10)},
    optional={
        "data": st.dictionaries(field_names, json_values, max_size=4) | json_values,
        "ref": json_values,
        "other": json_values,
    },
)


def _decodes_or_protocol_error(frame: str | bytes) -> None:
    try:
        result: object = decode(frame)
    except BrowserProtocolError as exc:
        result = exc
    if isinstance(result, BrowserProtocolError):
        assert result.close_code in (None, 1003, 1007, 1008, 1009)
        json.dumps(result.as_dict())  # always answerable
    else:
        assert isinstance(result, Resume | Notes | Disposition | Ping)


@settings(max_examples=300)
@given(st.text() | st.binary())
def test_any_frame_decodes_or_raises_the_protocol_error(frame: str | bytes) -> None:
    _decodes_or_protocol_error(frame)


@settings(max_examples=500)
@given(json_values)
def test_any_json_decodes_or_raises_the_protocol_error(value: object) -> None:
    _decodes_or_protocol_error(json.dumps(value))


@settings(max_examples=300)
@given(envelopes)
def test_any_envelope_decodes_or_raises_the_protocol_error(envelope: dict[str, object]) -> None:
    _decodes_or_protocol_error(json.dumps(envelope))


call_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
safe_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r"), max_size=200
)
refs = st.none() | st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=64
)
incoming = st.one_of(
    st.builds(Resume, st.none() | st.integers(0, MAX_SEQ), st.none() | refs),
    st.builds(Notes, call_ids, safe_text, refs),
    st.builds(
        Disposition,
        call_ids,
        st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), min_size=1, max_size=64),
        refs,
    ),
    st.builds(Ping, refs),
)


@given(incoming)
def test_what_a_client_encodes_decodes_to_the_same_message(message: Incoming) -> None:
    assert decode(encode_incoming(message)) == message


# ------------------------------------------------------------------------------ outgoing
def test_encode_numbers_the_message_and_stays_ascii() -> None:
    frame = encode(messages.pop_dismissed("lab:1", "answered_elsewhere"), 42)
    assert json.loads(frame) == {
        "type": "pop_dismissed",
        "seq": 42,
        "data": {"call_id": "lab:1", "reason": "answered_elsewhere"},
    }
    lone = encode(Outgoing("pop", {"name": "Zoë \udcff"}), 1)
    assert lone.isascii()


def test_pop_carries_html_card_and_click_to_dial_numbers() -> None:
    data = {
        "call": {"caller_number": "+442079460001", "caller_name": "ACME", "did": "4420"},
        "matches": [
            {
                "contact": {"name": "Ann", "phones": ["+442079460001", "+447700900001"]},
                "account": {"name": "ACME Ltd", "phone": "+442079460000"},
            },
            "not a match",
        ],
    }
    message = messages.pop("lab:1", "<div>Ann</div>", data)
    assert message.type == "pop"
    assert message.data["card"] == data
    assert message.data["dial"] == [
        {"number": "+442079460001", "label": "caller"},
        {"number": "+447700900001", "label": "Ann"},
        {"number": "+442079460000", "label": "ACME Ltd"},
    ]


def test_builders_refuse_unknown_states() -> None:
    with pytest.raises(ValidationFailed):
        messages.pop_dismissed("lab:1", "vanished")
    with pytest.raises(ValidationFailed):
        messages.call_state("lab:1", "exploded")
    assert messages.call_state("lab:1", "transferred", {"to": "PJSIP/1002"}).data == {
        "call_id": "lab:1",
        "state": "transferred",
        "detail": {"to": "PJSIP/1002"},
    }


def test_error_and_hello() -> None:
    err = messages.error(NotFound("no such call", details={"call_id": "x"}), ref="r1")
    assert err.data == {
        "error": "not_found",
        "message": "no such call",
        "details": {"call_id": "x"},
        "ref": "r1",
    }
    info = messages.ResumeInfo("replay", "ep", 4, replayed=2)
    hello = messages.hello(Principal("alice", "Alice", Role.AGENT), info, server_time=1.5)
    assert hello.data["protocol"] == 1
    assert hello.data["resume"] == {"mode": "replay", "epoch": "ep", "seq": 4, "replayed": 2}
    assert hello.data["agent"] == {"username": "alice", "display_name": "Alice", "role": "agent"}
