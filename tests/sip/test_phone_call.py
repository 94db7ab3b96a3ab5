"""The plain-Python side of the test phones: INVITE parsing, policies, call records."""

from __future__ import annotations

import threading

import pytest

from sip_tests.phone_call import (
    AutoAnswer,
    AutoReject,
    IncomingCall,
    StateChange,
    parse_headers,
    parse_name_addr,
)

INVITE = (
    "INVITE sip:1002@127.0.0.1:5062 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:35060;rport;branch=z9hG4bKPj1\r\n"
    'From: "Agent 1001" <sip:1001@127.0.0.1>;tag=abc\r\n'
    "To: <sip:1002@127.0.0.1:5062>\r\n"
    "Call-ID: 5b798942-d962\r\n"
    "Subject: folded\r\n"
    "  over two lines\r\n"
    "Content-Length: 3\r\n"
    "\r\n"
    "v=0"
)


def test_parse_headers_keeps_order_and_unfolds() -> None:
    headers = parse_headers(INVITE)
    assert [name for name, _ in headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "Subject",
        "Content-Length",
    ]
    assert dict(headers)["Subject"] == "folded over two lines"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Agent 1001" <sip:1001@127.0.0.1>', ("Agent 1001", "1001")),
        ("<sip:1002@127.0.0.1:5060;transport=udp>", ("", "1002")),
        ("sip:+442079460100@127.0.0.2", ("", "+442079460100")),
        ("sip:127.0.0.1", ("", "")),
    ],
)
def test_parse_name_addr(text: str, expected: tuple[str, str]) -> None:
    assert parse_name_addr(text) == expected


def test_incoming_call_exposes_the_invite() -> None:
    call = IncomingCall(
        threading.Condition(),
        "1002",
        7,
        invite_at=12.5,
        source="127.0.0.1:35060",
        headers=parse_headers(INVITE),
    )
    call.record_dialog("5b798942-d962", '"Agent 1001" <sip:1001@127.0.0.1>')
    assert call.header("CALL-ID") == call.sip_call_id
    assert (call.caller_name, call.caller_number) == ("Agent 1001", "1001")
    assert call.state == "INCOMING"
    assert call.timeline[0].at == 12.5


def test_a_repeated_state_is_not_recorded_twice() -> None:
    call = IncomingCall(threading.Condition(), "1002", 1, invite_at=1.0, source="", headers=())
    assert call.record_state(StateChange("CONFIRMED", 2.0, 200, "OK"))
    assert not call.record_state(StateChange("CONFIRMED", 2.1, 200, "OK"))
    assert [change.state for change in call.timeline] == ["INCOMING", "CONFIRMED"]
    assert call.reached("CONFIRMED") == StateChange("CONFIRMED", 2.0, 200, "OK")


def test_policies_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="final non-2xx"):
        AutoReject(200)
    with pytest.raises(ValueError, match="delay"):
        AutoAnswer(-1.0)
