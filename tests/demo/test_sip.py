"""The demo phones' SIP text (cti.demo.sip): what they parse from Asterisk and answer with."""

from __future__ import annotations

import hashlib

from cti.demo import sip

INVITE = (
    b"INVITE sip:1001@127.0.0.1:40000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKPj1\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKPj0\r\n"
    b'From: "Alice Archer" <sip:+442079460001@127.0.0.1>;tag=abc\r\n'
    b"To: <sip:1001@127.0.0.1>\r\n"
    b"Contact: <sip:asterisk@127.0.0.1:5060>\r\n"
    b"Call-ID: call-1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 60\r\n\r\n"
    b"v=0\r\nm=audio 30000 RTP/AVP 8 0 101\r\n"
)


def test_a_request_parses_with_compact_and_repeated_headers() -> None:
    message = sip.parse(INVITE)
    assert message is not None and message.is_request
    assert message.method == "INVITE" and message.cseq == (7, "INVITE")
    assert message.call_id == "call-1"
    assert len(message.all("via")) == 2


def test_junk_is_no_message() -> None:
    assert sip.parse(b"\r\n\r\n") is None
    assert sip.parse(b"hello\r\nthere\r\n\r\n") is None
    assert sip.parse(b"SIP/2.0 200 OK\r\nCSeq: x y\r\n\r\n") is None


def test_a_response_echoes_every_via_in_order_and_tags_the_to() -> None:
    message = sip.parse(INVITE)
    assert message is not None
    answer = sip.parse(sip.response(message, 180, to_tag="t1"))
    assert answer is not None and answer.status == 180
    assert answer.all("via") == message.all("via")
    assert answer.header("to") == "<sip:1001@127.0.0.1>;tag=t1"
    assert answer.header("cseq") == "7 INVITE"


def test_the_answer_takes_pcma_when_the_offer_prefers_it_only_after_pcmu() -> None:
    body = sip.answer_sdp("m=audio 30000 RTP/AVP 8 0 101", 40002, 1)
    assert "m=audio 40002 RTP/AVP 0" in body and "a=rtpmap:0 PCMU/8000" in body
    assert "RTP/AVP 8" in sip.answer_sdp("m=audio 1 RTP/AVP 8 101", 40002, 1)


def test_the_digest_answer_is_rfc_2617_with_qop_auth() -> None:
    value = sip.digest_authorization(
        'Digest realm="asterisk",nonce="n1",qop="auth",opaque="o"',
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1001",
        "lab-1001",
    )
    fields = dict(part.strip().split("=", 1) for part in value.removeprefix("Digest ").split(","))
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5("1001:asterisk:lab-1001"), md5("REGISTER:sip:127.0.0.1:5060")
    cnonce = fields["cnonce"].strip('"')
    assert fields["response"].strip('"') == md5(f"{ha1}:n1:00000001:{cnonce}:auth:{ha2}")
    assert fields["opaque"] == '"o"' and fields["qop"] == "auth"
