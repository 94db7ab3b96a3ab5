"""The few SIP messages a simulated demo phone exchanges with Asterisk (RFC 3261), as text.

Parsing keeps every header line as it came (Via lines must be echoed in order in responses);
building makes requests and responses with the headers RFC 3261 section 8 requires. Digest
answers (RFC 2617, with ``qop=auth``) are computed here. No I/O.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

__all__ = ["SipMessage", "answer_sdp", "branch", "digest_authorization", "parse", "response", "tag"]

_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}
_CHALLENGE = re.compile(r"(\w+)=(?:\"([^\"]*)\"|([^,\s]+))")
_REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 481: "Call/Transaction Does Not Exist"}
_REASONS |= {487: "Request Terminated", 501: "Not Implemented"}


@dataclass(frozen=True, slots=True)
class SipMessage:
    """One SIP request or response."""

    first_line: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order
    body: str

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0] if self.is_request else self.cseq[1]

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.first_line.split(" ", 2)[1])

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.header("cseq").partition(" ")
        return int(number or 0), method.strip()

    @property
    def call_id(self) -> str:
        return self.header("call-id")

    def header(self, name: str) -> str:
        """The first ``name`` header's value, or ''."""
        return next((v for n, v in self.headers if n == name), "")

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


def parse(data: bytes) -> SipMessage | None:
    """One datagram as a SIP message, or None when it is not one (keep-alives, junk)."""
    text = data.decode("utf-8", errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if len(lines) < 2 or not (lines[0].startswith("SIP/2.0 ") or lines[0].endswith(" SIP/2.0")):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers.append((_COMPACT.get(key, key), value.strip()))
    message = SipMessage(lines[0], tuple(headers), body)
    try:
        message.cseq  # noqa: B018 (a message without a readable CSeq is no message)
    except ValueError:
        return None
    return message


def tag() -> str:
    return secrets.token_hex(5)


def branch() -> str:
    return f"z9hG4bK{secrets.token_hex(8)}"


def response(
    request: SipMessage,
    status: int,
    *,
    to_tag: str | None = None,
    extra: tuple[str, ...] = (),
    body: str = "",
) -> bytes:
    """A response to ``request``: its Vias, From, Call-ID and CSeq; To with ``to_tag`` added
    when the request's To has none."""
    to = request.header("to")
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines = [f"SIP/2.0 {status} {_REASONS.get(status, 'OK')}"]
    lines += [f"Via: {via}" for via in request.all("via")]
    lines += [f"From: {request.header('from')}", f"To: {to}"]
    lines += [f"Call-ID: {request.call_id}", f"CSeq: {request.header('cseq')}", *extra]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def answer_sdp(offer: str, rtp_port: int, version: int) -> str:
    """An audio answer on 127.0.0.1:``rtp_port`` in the offer's first of PCMU, PCMA."""
    media = next((line for line in offer.splitlines() if line.startswith("m=audio")), "")
    offered = media.split()[3:]
    payload = next((p for p in ("0", "8") if p in offered), "0")
    codec = "PCMU/8000" if payload == "0" else "PCMA/8000"
    return "\r\n".join(
        [
            "v=0",
            f"o=cti-demo 1 {version} IN IP4 127.0.0.1",
            "s=-",
            "c=IN IP4 127.0.0.1",
            "t=0 0",
            f"m=audio {rtp_port} RTP/AVP {payload}",
            f"a=rtpmap:{payload} {codec}",
            "a=sendrecv",
            "",
        ]
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_authorization(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """The ``Authorization`` value answering a ``WWW-Authenticate: Digest ...`` challenge."""
    params = {k.lower(): quoted or bare for k, quoted, bare in _CHALLENGE.findall(challenge)}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
    fields = {"username": user, "realm": realm, "nonce": nonce, "uri": uri}
    extra = ""
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        fields["response"] = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields["cnonce"] = cnonce
        extra = f", qop=auth, nc={nc}"
    else:
        fields["response"] = _md5(f"{ha1}:{nonce}:{ha2}")
    if "opaque" in params:
        fields["opaque"] = params["opaque"]
    quoted = ", ".join(f'{key}="{value}"' for key, value in fields.items())
    return f"Digest {quoted}, algorithm=MD5{extra}"
