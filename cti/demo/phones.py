"""Simulated desk phones for the demo: they ring, answer after a few seconds, talk, hang up.

``cti demo`` registers one for each demo agent, as the agent's desk phone (``1001``...), so that
a newcomer's first call pops and is answered with no SIP phone installed. An agent who uses the
browser phone needs none: while Asterisk lists that agent's ``<ext>-webrtc`` contact, the
simulated phone unregisters, and it registers again once the browser phone is gone (checked
every 2 s). ``cti demo --no-simulated-phones`` turns them off.

Each phone is a UDP socket on loopback speaking the handful of SIP messages this takes
(:mod:`cti.demo.sip`): REGISTER with digest auth, and as a UAS INVITE (180, then 200 after
``answer_after_s``), ACK, CANCEL (487), re-INVITE, BYE either way, OPTIONS. Its media socket
takes Asterisk's RTP and drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cti.demo import sip

__all__ = ["DemoPhones", "SimulatedPhone"]

log = logging.getLogger(__name__)

_T1 = 0.5  # RFC 3261 timer T1: the first retransmission interval
_EXPIRES = 120  # seconds a registration lasts; renewed at half-time


@dataclass
class _Call:
    invite: sip.SipMessage
    source: tuple[str, int]
    local_tag: str
    answered: bool = False
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class SimulatedPhone(asyncio.DatagramProtocol):
    """One agent's simulated desk phone."""

    def __init__(
        self,
        extension: str,
        password: str,
        registrar: tuple[str, int],
        *,
        answer_after_s: float = 4.0,
        talk_s: float = 20.0,
    ) -> None:
        self.extension, self.password, self.registrar = extension, password, registrar
        self.answer_after_s, self.talk_s = answer_after_s, talk_s
        self.registered_until = 0.0
        self.answered = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._media: asyncio.DatagramTransport | None = None
        self._waiting: dict[tuple[str, int], asyncio.Future[sip.SipMessage]] = {}
        self._calls: dict[str, _Call] = {}
        self._cseq = 0
        self._reg_call_id = f"{sip.tag()}{sip.tag()}@cti-demo"

    # ---------------------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self._media, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )

    def close(self) -> None:
        for call in self._calls.values():
            for task in call.tasks:
                task.cancel()
        self._calls.clear()
        for transport in (self._transport, self._media):
            if transport is not None:
                transport.close()

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    @property
    def busy(self) -> bool:
        return bool(self._calls)

    async def register(self, expires: int = _EXPIRES) -> bool:
        """Register (``expires`` 0: unregister) this phone's contact; whether Asterisk said 200."""
        uri = f"sip:{self.registrar[0]}:{self.registrar[1]}"
        auth: str | None = None
        for _ in range(2):
            reply = await self._request("REGISTER", uri, expires, auth)
            if reply is None:
                return False
            if reply.status == 401 and auth is None:
                challenge = reply.header("www-authenticate")
                auth = sip.digest_authorization(
                    challenge, "REGISTER", uri, self.extension, self.password
                )
                continue
            if reply.status == 200:
                self.registered_until = time.monotonic() + expires if expires else 0.0
                return True
            log.warning("demo phone %s: REGISTER answered %s", self.extension, reply.first_line)
            return False
        return False

    async def _request(
        self, method: str, uri: str, expires: int, auth: str | None
    ) -> sip.SipMessage | None:
        self._cseq += 1
        user, host = self.extension, self.registrar[0]
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch={sip.branch()}",
            f"From: <sip:{user}@{host}>;tag={sip.tag()}",
            f"To: <sip:{user}@{host}>",
            f"Call-ID: {self._reg_call_id}",
            f"CSeq: {self._cseq} {method}",
            "Max-Forwards: 70",
            f"Contact: <sip:{user}@127.0.0.1:{self.port}>",
            f"Expires: {expires}",
            "User-Agent: CTI demo phone",
            *([f"Authorization: {auth}"] if auth else []),
            "Content-Length: 0",
        ]
        return await self._transact(("\r\n".join(lines) + "\r\n\r\n").encode(), self._reg_call_id)

    async def _transact(self, data: bytes, call_id: str) -> sip.SipMessage | None:
        """Send a request (retransmitted at T1, 2*T1, ...) and wait for its final response."""
        key = (call_id, self._cseq)
        future: asyncio.Future[sip.SipMessage] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            for wait in (_T1, 2 * _T1, 4 * _T1, 4 * _T1):
                self._send(data, self.registrar)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), wait)
            return None
        finally:
            self._waiting.pop(key, None)

    # ---------------------------------------------------------------------------- datagrams
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = sip.parse(data)
        if message is None:
            return
        if not message.is_request:
            future = self._waiting.get((message.call_id, message.cseq[0]))
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        handler: Callable[[sip.SipMessage, tuple[str, int]], None] = {
            "INVITE": self._invite,
            "ACK": self._ack,
            "CANCEL": self._cancel,
            "BYE": self._bye,
        }.get(message.method, self._ok)
        handler(message, addr)

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, addr)

    def _ok(self, request: sip.SipMessage, addr: tuple[str, int]) -> None:
        """OPTIONS (qualify), NOTIFY, UPDATE, INFO: 200; anything we cannot do: 501."""
        known = {"OPTIONS", "NOTIFY", "UPDATE", "INFO"}
        self._send(sip.response(request, 200 if request.method in known else 501), addr)

    def _invite(self, request: sip.SipMessage, addr: tuple[str, int]) -> None:
        call = self._calls.get(request.call_id)
        if call is not None and ";tag=" in request.header("to"):  # a re-INVITE: same media
            body = sip.answer_sdp(request.body, self._media_port(), 2)
            extra = (f"Contact: <sip:{self.extension}@127.0.0.1:{self.port}>",)
            self._send(sip.response(request, 200, extra=extra, body=body), addr)
            return
        if call is not None:  # a retransmission: Ringing again
            self._send(sip.response(request, 180, to_tag=call.local_tag), addr)
            return
        call = _Call(request, addr, sip.tag())
        self._calls[request.call_id] = call
        self._send(sip.response(request, 180, to_tag=call.local_tag), addr)
        call.tasks.append(asyncio.get_running_loop().create_task(self._answer_later(call)))

    async def _answer_later(self, call: _Call) -> None:
        await asyncio.sleep(self.answer_after_s)
        call.answered = True
        self.answered += 1
        body = sip.answer_sdp(call.invite.body, self._media_port(), 1)
        contact = f"Contact: <sip:{self.extension}@127.0.0.1:{self.port}>"
        ok = sip.response(call.invite, 200, to_tag=call.local_tag, extra=(contact,), body=body)
        wait = _T1
        while not call.acked.is_set() and wait <= 16:  # RFC 3261 13.3.1.4: until the ACK
            self._send(ok, call.source)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.acked.wait(), wait)
            wait *= 2
        await asyncio.sleep(self.talk_s)
        self._hang_up(call)

    def _hang_up(self, call: _Call) -> None:
        """Send BYE in the dialog the INVITE made (we are its UAS: From and To swap)."""
        invite = call.invite
        contact = invite.header("contact").strip("<>").split(">", 1)[0]
        target = contact or invite.first_line.split()[1]
        lines = [
            f"BYE {target} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch={sip.branch()}",
            f"From: {invite.header('to')};tag={call.local_tag}",
            f"To: {invite.header('from')}",
            f"Call-ID: {invite.call_id}",
            "CSeq: 1 BYE",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode(), call.source)
        self._calls.pop(invite.call_id, None)

    def _ack(self, request: sip.SipMessage, addr: tuple[str, int]) -> None:
        call = self._calls.get(request.call_id)
        if call is not None:
            call.acked.set()

    def _cancel(self, request: sip.SipMessage, addr: tuple[str, int]) -> None:
        self._send(sip.response(request, 200), addr)
        call = self._calls.get(request.call_id)
        if call is None or call.answered:
            return
        for task in call.tasks:
            task.cancel()
        self._calls.pop(request.call_id, None)
        self._send(sip.response(call.invite, 487, to_tag=call.local_tag), addr)

    def _bye(self, request: sip.SipMessage, addr: tuple[str, int]) -> None:
        call = self._calls.pop(request.call_id, None)
        self._send(sip.response(request, 200 if call else 481), addr)
        for task in call.tasks if call else ():
            task.cancel()

    def _media_port(self) -> int:
        assert self._media is not None
        return int(self._media.get_extra_info("sockname")[1])


class DemoPhones:
    """The demo agents' simulated phones, stepping aside for their browser phones."""

    def __init__(
        self,
        phones: Sequence[SimulatedPhone],
        contacts: Callable[[], str],
        *,
        every_s: float = 2.0,
    ) -> None:
        self.phones = list(phones)
        self._contacts = contacts  # Asterisk's `pjsip show contacts` (blocking: run in a thread)
        self._every_s = every_s

    async def run(self) -> None:
        """Keep each phone registered unless its agent's browser phone is; until cancelled."""
        for phone in self.phones:
            await phone.open()
        try:
            while True:
                await self._tick()
                await asyncio.sleep(self._every_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._unregister_all())
            for phone in self.phones:
                phone.close()

    async def _tick(self) -> None:
        try:
            listed = await asyncio.to_thread(self._contacts)
        except Exception as exc:  # the lab restarting: keep what we have
            log.debug("demo phones: no contact list (%s)", exc)
            return
        now = time.monotonic()
        for phone in self.phones:
            browser = f"{phone.extension}-webrtc/sip:" in listed
            if browser and phone.registered_until and not phone.busy:
                await phone.register(0)
            elif not browser and phone.registered_until - now < _EXPIRES / 2:
                await phone.register()

    async def _unregister_all(self) -> None:
        for phone in self.phones:
            if phone.registered_until:
                await phone.register(0)
