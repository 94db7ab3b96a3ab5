"""Agent phones that answer any number of calls at once: SIPp, registered as lab agents.

pjsua2 phones hold 4 calls per process; a drill with 50 live calls needs phones without that
limit. SIPp answers calls as a UAS but cannot register with digest auth and then serve calls on
one port, so :func:`register` (RFC 3261 section 10, digest per RFC 2617 with ``qop=auth``)
registers the extension from a UDP port first, closes it, and SIPp takes that port over. The
lab's agent endpoints have ``rewrite_contact = yes``: Asterisk sends calls to the REGISTER's
source address, which is then SIPp's.

:func:`sipp_agents` is a context manager: it clears every earlier binding of the extensions
(``Contact: *``), registers one SIPp per extension, and unregisters them at the end, so no
stale contact is left for Asterisk to fork the next test's calls to.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sip_tests.lab import LabHandle

# sip_tests.sipp's own launcher and bind wait: the same SIPp command line as every lab call.
from sip_tests.sipp import SippError, SippProcess, _start, cleanup_workdirs

__all__ = ["SippAgent", "register", "sipp_agents"]

_CHALLENGE = re.compile(r"(\w+)=(?:\"([^\"]*)\"|([^,\s]+))")


@dataclass(frozen=True, slots=True)
class SippAgent:
    """One agent extension answered by one SIPp process on ``port``."""

    extension: str
    port: int
    sipp: SippProcess

    def invites(self) -> int:
        """How many calls reached this phone (INVITEs of new calls) so far."""
        return len([o for o in self.sipp.outcomes() if o.outcome == "invite"])

    def answered(self) -> int:
        return len([o for o in self.sipp.outcomes() if o.outcome == "answered"])


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _authorization(challenge: str, user: str, password: str, uri: str) -> str:
    """The ``Authorization`` value answering a ``WWW-Authenticate: Digest ...`` challenge."""
    params = {k.lower(): quoted or bare for k, quoted, bare in _CHALLENGE.findall(challenge)}
    realm, nonce = params["realm"], params["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"REGISTER:{uri}")
    fields = {"username": user, "realm": realm, "nonce": nonce, "uri": uri}
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        fields |= {"response": _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"), "cnonce": cnonce}
        extra = f", qop=auth, nc={nc}"
    else:
        fields["response"] = _md5(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    if "opaque" in params:
        fields["opaque"] = params["opaque"]
    quoted = ", ".join(f'{key}="{value}"' for key, value in fields.items())
    return f"Digest {quoted}, algorithm=MD5{extra}"


def _message(
    sock: socket.socket,
    registrar: tuple[str, int],
    user: str,
    contact: str,
    *,
    expires: int,
    dialog: tuple[str, str, int],
    auth: str | None = None,
) -> str:
    """One REGISTER request; ``dialog`` is (Call-ID, From tag, CSeq)."""
    host, port = sock.getsockname()
    call_id, tag, cseq = dialog
    lines = [
        f"REGISTER {_uri(registrar)} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};rport;branch=z9hG4bK{secrets.token_hex(8)}",
        f"From: <sip:{user}@{registrar[0]}>;tag={tag}",
        f"To: <sip:{user}@{registrar[0]}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "Max-Forwards: 70",
        f"Contact: {contact}",
        f"Expires: {expires}",
        *([f"Authorization: {auth}"] if auth else []),
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def _uri(registrar: tuple[str, int]) -> str:
    return f"sip:{registrar[0]}:{registrar[1]}"


def _exchange(sock: socket.socket, registrar: tuple[str, int], message: str) -> str:
    """Send ``message`` and return the first final response (retransmitted as UDP needs)."""
    for _ in range(4):
        sock.sendto(message.encode(), registrar)
        try:
            while True:
                reply = sock.recv(65535).decode(errors="replace")
                if not reply.startswith("SIP/2.0 1"):  # skip provisional responses
                    return reply
        except TimeoutError:
            continue
    raise SippError(f"no answer to REGISTER from {registrar[0]}:{registrar[1]}")


def register(
    sock: socket.socket,
    registrar: tuple[str, int],
    user: str,
    password: str,
    *,
    expires: int = 600,
    clear_all: bool = False,
) -> None:
    """Register ``user`` with this socket's address as its contact (or remove every contact
    of ``user`` with ``clear_all``); raise SippError unless the registrar says 200."""
    host, port = sock.getsockname()
    contact = "*" if clear_all else f"<sip:{user}@{host}:{port}>"
    expires = 0 if clear_all else expires
    call_id, tag = f"{secrets.token_hex(12)}@{host}", secrets.token_hex(4)
    message = _message(sock, registrar, user, contact, expires=expires, dialog=(call_id, tag, 1))
    reply = _exchange(sock, registrar, message)
    if reply.startswith("SIP/2.0 401"):
        challenge = re.search(r"(?im)^WWW-Authenticate:\s*(.+?)\r?$", reply)
        if challenge is None:
            raise SippError(f"401 without a challenge from the registrar: {reply[:200]}")
        auth = _authorization(challenge.group(1), user, password, _uri(registrar))
        message = _message(
            sock, registrar, user, contact, expires=expires, dialog=(call_id, tag, 2), auth=auth
        )
        reply = _exchange(sock, registrar, message)
    if not reply.startswith("SIP/2.0 200"):
        status = reply.splitlines()[0] if reply else "nothing"
        raise SippError(f"REGISTER of {user} refused: {status}")


def _udp_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(1.0)
    return sock


def _start_agent(
    lab: LabHandle, extension: str, answer_delay_s: float, lifetime_s: float
) -> SippAgent:
    registrar = ("127.0.0.1", lab.settings.sip_port)
    with _udp_socket() as sock:
        register(sock, registrar, extension, lab.password(extension), clear_all=True)
        register(sock, registrar, extension, lab.password(extension), expires=int(lifetime_s) + 60)
        port = int(sock.getsockname()[1])
    proc = _start(  # returns once SIPp listens: no INVITE reaches a port nobody listens on
        "agent_phone.xml",
        {"ANSWER_DELAY_MS": int(answer_delay_s * 1000)},
        [],
        local_host="127.0.0.1",
        local_port=port,
        remote=None,
        global_timeout_s=lifetime_s,
    )
    return SippAgent(extension, port, proc)


def _unregister(lab: LabHandle, agent: SippAgent) -> None:
    agent.sipp.stop()
    registrar = ("127.0.0.1", lab.settings.sip_port)
    with contextlib.suppress(OSError, SippError), _udp_socket(agent.port) as sock:
        register(sock, registrar, agent.extension, lab.password(agent.extension), clear_all=True)


@contextlib.contextmanager
def sipp_agents(
    lab: LabHandle,
    extensions: Sequence[str],
    *,
    answer_delay_s: float = 0.3,
    lifetime_s: float = 900.0,
) -> Iterator[dict[str, SippAgent]]:
    """Register a SIPp answering phone for each of ``extensions``; stop and unregister them
    at the end (SIPp also exits by itself after ``lifetime_s``)."""
    agents: dict[str, SippAgent] = {}
    try:
        for extension in extensions:
            agents[extension] = _start_agent(lab, extension, answer_delay_s, lifetime_s)
        yield agents
    finally:
        for agent in agents.values():
            _unregister(lab, agent)
        cleanup_workdirs(a.sipp for a in agents.values())
