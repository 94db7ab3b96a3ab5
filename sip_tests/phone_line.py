"""The pjsua2-thread half of a phone: its Account, the records of its calls, what it saw.

Every method here runs on the fleet's pjsua2 thread (as a submitted command or a pjsua2
callback) and returns promptly: a callback that blocked would stall every phone of the fleet,
and the re-INVITEs and UPDATEs Asterisk sends with them. Work for later (auto-answer after a
delay) is posted back to the thread instead of slept on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from sip_tests.phone_call import (
    AnswerPolicy,
    AutoAnswer,
    AutoReject,
    IncomingCall,
    OutgoingCall,
    PhoneCall,
    PhoneError,
    PhoneEvent,
    StateChange,
    TransferNotice,
    parse_headers,
)
from sip_tests.pjsua_agent import (
    AgentAccount,
    AgentCall,
    account_config,
    call_op,
    carrier_config,
)
from sip_tests.pjsua_calls import CallCustody
from sip_tests.pjsua_loop import describe_error

__all__ = ["FleetServices", "PhoneLine"]


class FleetServices(Protocol):
    """What a phone line needs from its fleet."""

    cond: threading.Condition

    @property
    def transport_id(self) -> int: ...

    def post(self, fn: Callable[[], object], delay: float = 0.0) -> None: ...

    def next_key(self) -> int: ...

    @property
    def custody(self) -> CallCustody: ...


class PhoneLine:
    """Implement the account and call callbacks of one phone and keep its records."""

    def __init__(
        self, fleet: FleetServices, extension: str, registrar: str, policy: AnswerPolicy
    ) -> None:
        self.fleet = fleet
        self.cond = fleet.cond
        self.extension = extension
        self.registrar = registrar
        self.policy = policy
        # Guarded by cond; read by the test threads.
        self.events: list[PhoneEvent] = []
        self.registration: tuple[int, str, int] = (0, "", 0)  # code, reason, expires
        self.records: dict[int, PhoneCall] = {}
        self.incoming: list[IncomingCall] = []
        self.rang = 0  # how many of `incoming` wait_ringing has returned
        self.unregistered = False  # after unregister(): the PBX confirmed, or nothing to undo
        # pjsua2 thread only.
        self._account: AgentAccount | None = None
        self._unregistering = False

    def note(self, kind: str, detail: str) -> None:
        """Append to the phone's event list and wake the waiters."""
        with self.cond:
            self.events.append(PhoneEvent(time.monotonic(), self.extension, kind, detail))
            self.cond.notify_all()

    # --- commands -------------------------------------------------------------------------------

    def register(self, password: str) -> None:
        """Create the Account; pjsua2 sends REGISTER and answers the digest challenge."""
        account = AgentAccount(self)
        account.create(
            account_config(self.extension, password, self.registrar, self.fleet.transport_id)
        )
        self._account = account
        self.note("register", f"REGISTER sip:{self.extension}@{self.registrar}")

    def open_carrier(self, host: str, transport_id: int) -> None:
        """Create an Account that never registers and sends its calls from ``host``."""
        account = AgentAccount(self)
        account.create(carrier_config(self.extension, host, transport_id))
        self._account = account
        with self.cond:
            self.registration = (200, "carrier line: no registration", 0)
            self.unregistered = True
        self.note("carrier", f"calls from {self.extension}@{host}")

    def place(self, uri: str) -> OutgoingCall:
        """Send an INVITE to `uri` and return the call's record."""
        account = self._require_account()
        self.fleet.custody.check_capacity(f"{self.extension}: call {uri}")
        key = self.fleet.next_key()
        record = OutgoingCall(
            self.cond, self.extension, key, target=uri, placed_at=time.monotonic()
        )
        with self.cond:
            self.records[key] = record
        self.note("command", f"#{key} call {uri}")
        call = AgentCall(account, key)
        self.fleet.custody.adopt(key, call)
        try:
            call.makeCall(uri, call_op())
        except BaseException:
            self.fleet.custody.retire(key)
            self._end_record(record, "makeCall failed")
            raise
        return record

    def refresh_registration(self) -> None:
        """Send a fresh REGISTER now (another client may have cleared this extension's contacts
        at the registrar, e.g. a SIPp phone's ``Contact: *``)."""
        account = self._require_account()
        with self.cond:
            self.registration = (0, "", 0)
        account.setRegistration(True)
        self.note("register", f"REGISTER sip:{self.extension}@{self.registrar} (refresh)")

    def unregister(self) -> None:
        """Send REGISTER with Expires: 0 so that the PBX forgets this phone's contact."""
        self._unregistering = True
        code, _, expiration = self.registration
        if self._account is None or code != 200 or expiration <= 0:
            self._mark_unregistered("not registered, nothing to undo")
            return
        try:
            self._account.setRegistration(False)
        except Exception as exc:
            self._mark_unregistered(f"unregister failed: {describe_error(exc)}")

    def drop_account(self) -> None:
        """Delete the pjsua account and its Python object, here on the pjsua2 thread."""
        account, self._account = self._account, None
        if account is not None:
            account.shutdown()

    # --- AgentAccount and AgentCall callbacks -------------------------------------------------

    def registration_changed(self, code: int, reason: str, expiration: int) -> None:
        with self.cond:
            self.registration = (code, reason, expiration)
            if self._unregistering and (expiration <= 0 or code != 200):
                self.unregistered = True
        self.note("register", f"{code} {reason}, expires in {expiration} s")

    def call_arrived(self, at: float, pj_call_id: int, message: str, source: str) -> None:
        account = self._require_account()
        key = self.fleet.next_key()
        call = AgentCall(account, key, pj_call_id)  # must exist before the callback returns
        self.fleet.custody.adopt(key, call)
        record = IncomingCall(
            self.cond,
            self.extension,
            key,
            invite_at=at,
            source=source,
            headers=parse_headers(message),
        )
        info = call.getInfo()
        with self.cond:
            record.record_dialog(str(info.callIdString), str(info.remoteUri))
            self.records[key] = record
            self.incoming.append(record)
            policy = self.policy
        self.note("incoming", f"#{key} INVITE from {record.remote_uri} via {source}")
        if isinstance(policy, AutoReject):  # like a phone on do-not-disturb: no 180 first
            self.fleet.post(lambda: self._answer_later(key, policy.code, "auto-reject"))
            return
        call.answer(call_op(180))
        if isinstance(policy, AutoAnswer):
            delay = max(0.0, at + policy.delay - time.monotonic())
            self.fleet.post(lambda: self._answer_later(key, 200, "auto-answer"), delay)

    def call_state_changed(
        self, key: int, change: StateChange, sip_call_id: str, remote_uri: str
    ) -> None:
        record = self.records.get(key)
        if record is None:
            return
        with self.cond:
            record.record_dialog(sip_call_id, remote_uri)
            changed = record.record_state(change)
        if changed:
            detail = f"#{key} {change.state} {change.status_code or ''} {change.reason}"
            self.note("state", " ".join(detail.split()))
        if change.state == "DISCONNECTED":
            self.fleet.custody.retire(key)

    def call_media_changed(self, key: int, status: str) -> None:
        record = self.records.get(key)
        if record is not None:
            with self.cond:
                record.record_media(status)
            self.note("media", f"#{key} audio {status}")

    def transfer_progressed(self, key: int, code: int, reason: str, final: bool) -> None:
        record = self.records.get(key)
        if record is not None:
            with self.cond:
                record.record_transfer(TransferNotice(time.monotonic(), code, reason, final))
            self.note("transfer", f"#{key} NOTIFY {code} {reason}{' (final)' if final else ''}")
        if final and 200 <= code < 300:
            # RFC 5589 2.4: the transferor ends its dialog once the transfer succeeded. Desk
            # phones (and pjsua's own app) send BYE; Asterisk waits for it after a blind one.
            self.fleet.post(lambda: self._hang_up_transferred(key))

    def callback_failed(self, where: str, exc: BaseException) -> None:
        self.note("error", f"{where}: {describe_error(exc)}")

    # --- helpers --------------------------------------------------------------------------------

    def _answer_later(self, key: int, code: int, why: str) -> None:
        call = self.fleet.custody.get(key)
        record = self.records[key]
        if call is None or record.state in ("CONFIRMED", "DISCONNECTED"):
            self.note(why, f"#{key} skipped: the call is {record.state}")
            return
        self.note(why, f"#{key} {code}")
        try:
            if code < 300:
                call.answer(call_op(code))
            else:
                call.hangup(call_op(code))
        except Exception as exc:
            self.note("error", f"{why} #{key}: {describe_error(exc)}")

    def _hang_up_transferred(self, key: int) -> None:
        call = self.fleet.custody.get(key)
        if call is None or self.records[key].state == "DISCONNECTED":
            return
        self.note("command", f"#{key} hang up after the transfer")
        try:
            call.hangup(call_op())
        except Exception as exc:
            self.note("error", f"hang up #{key} after the transfer: {describe_error(exc)}")

    def _mark_unregistered(self, why: str) -> None:
        with self.cond:
            self.unregistered = True
        self.note("register", why)

    def forget_history(self) -> None:
        """Drop ended calls, rings nobody waited for and the events; the caller holds the lock."""
        self.records = {k: r for k, r in self.records.items() if r.state != "DISCONNECTED"}
        self.incoming = []
        self.rang = 0
        self.events = []

    def _end_record(self, record: PhoneCall, reason: str) -> None:
        with self.cond:
            record.record_state(StateChange("DISCONNECTED", time.monotonic(), 0, reason))
        self.note("state", f"#{record.key} DISCONNECTED ({reason})")

    def _require_account(self) -> AgentAccount:
        if self._account is None:
            raise PhoneError(f"{self.extension}: the phone has no account (fleet stopped?)")
        return self._account
