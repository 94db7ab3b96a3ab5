"""Agent phones for end-to-end tests and benchmarks: pjsua2 accounts driven from test code.

A `PhoneFleet` owns the process's single pjsua2 Endpoint on one thread (see `pjsua_loop`); each
`Phone` is a registered account on it. Test code calls the phones from any thread: commands run
on the pjsua2 thread, and waits block on the records that thread keeps, always with a timeout.

    with PhoneFleet() as fleet:
        alice = fleet.phone("1001", "lab-1001", registrar="127.0.0.1:5060")
        bob = fleet.phone("1002", "lab-1002", registrar="127.0.0.1:5060", answer=AutoAnswer(0.3))
        alice.wait_registered(5); bob.wait_registered(5)
        out = alice.call("1002")
        ringing = bob.wait_ringing(5)         # ringing.invite_at: time.monotonic() of the INVITE
        alice.wait_state(out, "CONFIRMED", 5)
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import pjsua2 as pj

from sip_tests.phone_call import (
    AnswerPolicy,
    AutoAnswer,
    AutoReject,
    CallState,
    IncomingCall,
    Manual,
    OutgoingCall,
    PhoneCall,
    PhoneError,
    PhoneEvent,
    StateChange,
    TransferNotice,
)
from sip_tests.phone_line import PhoneLine
from sip_tests.pjsua_agent import AgentCall, call_op
from sip_tests.pjsua_audio import CallAudio, finished
from sip_tests.pjsua_calls import MAX_ACCOUNTS, MAX_CALL_LEGS, CallCustody
from sip_tests.pjsua_loop import LoopSettings, PjsuaLoop, describe_error

__all__ = [
    "MAX_ACCOUNTS",
    "MAX_CALL_LEGS",
    "AnswerPolicy",
    "AutoAnswer",
    "AutoReject",
    "IncomingCall",
    "Manual",
    "OutgoingCall",
    "Phone",
    "PhoneCall",
    "PhoneError",
    "PhoneEvent",
    "PhoneFleet",
    "StateChange",
    "TransferNotice",
]

T = TypeVar("T")


class PhoneFleet:
    """Own the pjsua2 Endpoint and the phones registered on it; use as a context manager.

    One fleet per process at a time (pjsua2 has one Endpoint). The pjsua2-python wheel holds at
    most MAX_ACCOUNTS (8) phones and MAX_CALL_LEGS (4) calls up at once, in and out together,
    per process: run benchmarks that need more in several processes.
    """

    def __init__(
        self,
        *,
        log_path: Path | None = None,
        log_level: int = 4,
        poll_interval: float = 0.005,
    ) -> None:
        settings = LoopSettings(poll_interval=poll_interval, log_path=log_path, log_level=log_level)
        self.cond = threading.Condition()  # guards every record the pjsua2 thread writes
        self._loop = PjsuaLoop(settings, teardown=self._teardown, report=self._report)
        self._phones: dict[str, Phone] = {}
        self._keys = itertools.count(1)
        self._errors: list[PhoneEvent] = []
        self.custody = CallCustody(self.cond, self.post)  # the Call objects; pjsua2 thread only
        self.audio = CallAudio()  # tones and recorders of calls; pjsua2 thread only
        self._carrier_transports: dict[str, int] = {}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the Endpoint with a UDP transport on 127.0.0.1 and a null sound device."""
        self._loop.start()

    def stop(self) -> None:
        """Hang up every call, unregister every phone, destroy the Endpoint and end its thread."""
        self._loop.stop()

    @property
    def local_address(self) -> str:
        """The phones' SIP address (host:port), as the PBX sees it in their Contact."""
        return self._loop.local_address

    @property
    def transport_id(self) -> int:
        """The pjsua2 id of the phones' UDP transport."""
        return self._loop.transport_id

    @property
    def phones(self) -> tuple[Phone, ...]:
        """The phones created so far."""
        return tuple(self._phones.values())

    def phone(
        self, extension: str, password: str, registrar: str, *, answer: AnswerPolicy | None = None
    ) -> Phone:
        """Create a phone and start its registration at `registrar` (host:port); do not wait."""
        if extension in self._phones:
            raise PhoneError(f"{extension}: this fleet already has a phone for it")
        if len(self._phones) >= MAX_ACCOUNTS:
            raise PhoneError(
                f"{extension}: a fleet holds at most {MAX_ACCOUNTS} phones (PJSUA_MAX_ACC of the"
                " pjsua2 wheel); run more phones in another process"
            )
        phone = Phone(self, extension, registrar, answer or Manual())
        self.run(lambda: phone._line.register(password), f"{extension}: register")
        self._phones[extension] = phone
        return phone

    def carrier(self, number: str, host: str, registrar: str) -> Phone:
        """Create a carrier line: calls from ``number`` sent from ``host`` (the trunk's address,
        which the PBX identifies as its carrier) to the PBX at ``registrar``; no registration."""
        if number in self._phones:
            return self._phones[number]
        if len(self._phones) >= MAX_ACCOUNTS:
            raise PhoneError(f"{number}: a fleet holds at most {MAX_ACCOUNTS} phones")

        def open_line() -> None:
            if host not in self._carrier_transports:
                self._carrier_transports[host] = self._loop.add_transport(host)
            phone._line.open_carrier(host, self._carrier_transports[host])

        phone = Phone(self, number, registrar, Manual())
        self.run(open_line, f"{number}: open a carrier line on {host}")
        self._phones[number] = phone
        return phone

    def remove(self, phone: Phone, timeout: float = 5.0) -> None:
        """Hang up a phone's calls, unregister it and delete its account; free its extension."""
        phone.hangup_all()
        for call in phone.calls:
            phone.wait_state(call, "DISCONNECTED", timeout)
        line = phone._line
        self.run(line.unregister, f"{phone.extension}: unregister")
        self.wait(
            f"{phone.extension}: expected to unregister", lambda: line.unregistered or None, timeout
        )
        self.run(line.drop_account, f"{phone.extension}: delete the account")
        self._phones.pop(phone.extension, None)

    def events(self) -> list[PhoneEvent]:
        """Return what every phone saw, in time order, with the fleet's own errors."""
        with self.cond:
            merged = [e for p in self._phones.values() for e in p._line.events] + self._errors
        return sorted(merged, key=lambda event: event.at)

    def format_events(self) -> str:
        """Render `events()` one per line, for printing when an end-to-end test fails."""
        return "\n".join(str(event) for event in self.events())

    # --- for Phone ----------------------------------------------------------------------------

    def run(self, fn: Callable[[], T], what: str, timeout: float = 5.0) -> T:
        """Run a command on the pjsua2 thread; translate pjsua2's errors into PhoneError."""

        def guarded() -> T:
            failure = ""
            try:
                return fn()
            except pj.Error as exc:
                failure = describe_error(exc)
            raise PhoneError(f"{what}: pjsua2 refused: {failure}")  # no pjsua2 frame attached

        return self._loop.submit(guarded, what, timeout)

    def post(self, fn: Callable[[], object], delay: float = 0.0) -> None:
        """Run `fn` on the pjsua2 thread later (from a callback, which must not block)."""
        self._loop.post(fn, delay)

    def next_key(self) -> int:
        """Return a fleet-wide unique key for a new call record."""
        return next(self._keys)

    def wait(self, what: str, check: Callable[[], T | None], timeout: float) -> T:
        """Block until `check()` (run under the lock) returns a value; PhoneError on timeout.

        The error lists the fleet's last events: an end-to-end failure usually involves what
        another phone saw.
        """
        if not 0 < timeout < math.inf:
            raise ValueError(f"a wait needs a finite positive timeout, not {timeout}")
        if self._loop.on_thread():
            raise PhoneError(f"{what}: waits block, so they cannot run on the pjsua2 thread")
        deadline = time.monotonic() + timeout
        with self.cond:
            while (result := check()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._loop.alive:
                    why = f"within {timeout} s" if self._loop.alive else "(fleet stopped)"
                    recent = "\n".join(f"  {event}" for event in self.events()[-25:])
                    raise PhoneError(f"{what} {why}; last events:\n{recent or '  (none)'}")
                self.cond.wait(min(remaining, 0.05))  # some checks depend on the time alone
            return result

    def wait_for_media_sockets(self, what: str, timeout: float) -> None:
        """Wait until a new call cannot exhaust pjmedia's ioqueue (at most SOCKET_RECYCLE)."""
        self.wait(f"{what}: expected RTP sockets to recycle", self.custody.sockets_free, timeout)

    def record_error(self, extension: str, what: str) -> None:
        """Keep an error that happened on the pjsua2 thread, where nobody can catch it."""
        with self.cond:
            self._errors.append(PhoneEvent(time.monotonic(), extension, "error", what))
            self.cond.notify_all()

    def _report(self, where: str, exc: BaseException) -> None:
        self.record_error("fleet", f"{where}: {describe_error(exc)}")

    def _teardown(self, loop: PjsuaLoop) -> bool:
        """Hang up, unregister and drop every pjsua2 object, on the pjsua2 thread.

        Return whether all of it was confirmed by the PBX in time.
        """
        lines = [phone._line for phone in self._phones.values()]
        try:
            loop.endpoint.hangupAllCalls()
            ended = loop.pump(lambda: not self.custody, timeout=3.0)
            self.custody.drop_all()
            for line in lines:
                line.unregister()
            unregistered = loop.pump(lambda: all(line.unregistered for line in lines), 2.0)
            return ended and unregistered
        finally:  # whatever failed: no pjsua2 object may outlive libDestroy
            self.audio.drop_all()
            self.custody.drop_all()
            for line in lines:
                line.drop_account()


class Phone:
    """One agent phone: wait for what it sees and tell it what to do, from any thread."""

    def __init__(
        self, fleet: PhoneFleet, extension: str, registrar: str, policy: AnswerPolicy
    ) -> None:
        self.extension = extension
        self.registrar = registrar
        self._fleet = fleet
        self._line = PhoneLine(fleet, extension, registrar, policy)

    def __repr__(self) -> str:
        return f"<Phone {self.extension} at {self.registrar}>"

    @property
    def events(self) -> tuple[PhoneEvent, ...]:
        """Everything this phone saw and did, oldest first."""
        with self._fleet.cond:
            return tuple(self._line.events)

    @property
    def calls(self) -> tuple[PhoneCall, ...]:
        """Every call this phone has had, oldest first."""
        with self._fleet.cond:
            return tuple(self._line.records.values())

    def reset(self) -> None:
        """Forget the ended calls, unclaimed rings and events: a reused phone starts a test fresh.

        Calls still up are kept (see `hangup_all`); the answer policy is kept too.
        """
        with self._fleet.cond:
            self._line.forget_history()

    def hangup_all(self) -> None:
        """Hang up every call of this phone that is still up (cleanup after a test)."""
        for call in self.calls:
            if call.state != "DISCONNECTED":
                try:
                    self.hangup(call)
                except PhoneError:
                    if call.reached("DISCONNECTED") is None:  # it did not just end meanwhile
                        raise

    def set_answer_policy(self, policy: AnswerPolicy) -> None:
        """Choose how calls that arrive from now on are answered."""
        with self._fleet.cond:
            self._line.policy = policy

    def uri(self, target: str) -> str:
        """Turn an extension or number into a SIP URI at the registrar; keep a URI as it is."""
        return target if target.startswith(("sip:", "sips:")) else f"sip:{target}@{self.registrar}"

    # --- waits ----------------------------------------------------------------------------------

    def unregister(self) -> None:
        """Take this phone's contact off the registrar (``phones`` registers it again)."""
        self._fleet.run(self._line.unregister, f"{self.extension}: unregister")

    def reregister(self, timeout: float = 5.0) -> None:
        """Register again now and wait for the registrar's 200 (a drill may have cleared it)."""
        self._fleet.run(self._line.refresh_registration, f"{self.extension}: re-register")
        self.wait_registered(timeout)

    def wait_registered(self, timeout: float = 5.0) -> None:
        """Wait until the registrar accepted this phone's REGISTER (after digest auth)."""

        def check() -> bool | None:
            code, reason, expiration = self._line.registration
            if code >= 300:
                raise PhoneError(f"{self.extension}: registration refused: {code} {reason}")
            return True if code == 200 and expiration > 0 else None

        self._fleet.wait(f"{self.extension}: expected to register", check, timeout)

    def wait_ringing(self, timeout: float = 5.0) -> IncomingCall:
        """Return the next call that rang this phone (oldest not yet returned)."""

        def check() -> IncomingCall | None:
            if self._line.rang < len(self._line.incoming):
                self._line.rang += 1
                return self._line.incoming[self._line.rang - 1]
            return None

        return self._fleet.wait(f"{self.extension}: expected a call to ring", check, timeout)

    def wait_state(self, call: PhoneCall, state: CallState, timeout: float = 5.0) -> StateChange:
        """Wait until `call` has entered `state`; fail early if it ended before getting there."""

        def check() -> StateChange | None:
            change = call.reached(state)
            if change is None and call.state == "DISCONNECTED":
                raise PhoneError(
                    f"{self.extension}: call #{call.key} {call.describe()} ended before {state}"
                )
            return change

        what = f"{self.extension}: expected call #{call.key} {call.describe()} to reach {state}"
        return self._fleet.wait(what, check, timeout)

    def wait_media(self, call: PhoneCall, status: str, timeout: float = 5.0) -> None:
        """Wait until the call's audio is in `status` (ACTIVE, LOCAL_HOLD, REMOTE_HOLD...)."""
        what = f"{self.extension}: expected call #{call.key} audio {status}"
        self._fleet.wait(what, lambda: True if call.media == status else None, timeout)

    def wait_transfer(self, call: PhoneCall, timeout: float = 5.0) -> TransferNotice:
        """Wait for the final NOTIFY about the REFER sent on `call`; return it."""

        def check() -> TransferNotice | None:
            return next((notice for notice in call.transfers if notice.final), None)

        what = f"{self.extension}: expected the final NOTIFY of the transfer on call #{call.key}"
        return self._fleet.wait(what, check, timeout)

    # --- commands -------------------------------------------------------------------------------

    def call(self, target: str) -> OutgoingCall:
        """Place a call to an extension, number or SIP URI; return once the INVITE is sent.

        After a burst of short calls this first waits (up to 1 s) for pjmedia to recycle the
        RTP sockets of the ended ones; see `pjsua_calls`.
        """
        uri = self.uri(target)
        self._fleet.wait_for_media_sockets(f"{self.extension}: call {uri}", 1.0)
        return self._fleet.run(lambda: self._line.place(uri), f"{self.extension}: call {uri}")

    def answer(self, call: IncomingCall, code: int = 200) -> None:
        """Answer a ringing call (200 OK by default)."""
        self._command(call, f"answer {code}", lambda c: c.answer(call_op(code)))

    def reject(self, call: IncomingCall, code: int = 486) -> None:
        """Reject a ringing call with a final status code (486 Busy Here by default)."""
        self._command(call, f"reject {code}", lambda c: c.hangup(call_op(code)))

    def hangup(self, call: PhoneCall) -> None:
        """End a call: BYE when answered, CANCEL while ringing out, 603 while ringing in.

        A call that has already ended is left alone, so that cleanup code can hang up blindly.
        """
        if call.state != "DISCONNECTED":
            self._command(call, "hang up", lambda c: c.hangup(call_op()))

    def hold(self, call: PhoneCall) -> None:
        """Put a call on hold (re-INVITE with a=sendonly); see `wait_media(call, "LOCAL_HOLD")`."""
        self._command(call, "hold", lambda c: c.setHold(call_op()))

    def unhold(self, call: PhoneCall) -> None:
        """Take a call off hold (re-INVITE with a=sendrecv)."""

        def unhold(c: AgentCall) -> None:
            prm = call_op()
            prm.opt.flag |= pj.PJSUA_CALL_UNHOLD
            c.reinvite(prm)

        self._command(call, "unhold", unhold)

    def blind_transfer(self, call: PhoneCall, target_extension: str) -> None:
        """Transfer the other party of `call` to an extension (REFER, RFC 3515)."""
        uri = self.uri(target_extension)
        self._command(call, f"blind transfer to {uri}", lambda c: c.xfer(uri, call_op()))

    def attended_transfer(self, call_with_caller: PhoneCall, call_with_target: PhoneCall) -> None:
        """Connect the parties of two calls: REFER on the first with Replaces of the second."""
        what = f"attended transfer to call #{call_with_target.key}"

        def refer(c: AgentCall) -> None:
            target = self._fleet.custody.get(call_with_target.key)
            if target is None:
                raise PhoneError(f"{self.extension}: {what}: that call has ended")
            c.xferReplaces(target, call_op())

        self._command(call_with_caller, what, refer)

    # --- audio (see sip_tests.pjsua_audio and sip_tests.tones) -------------------------------

    def play_tone(self, call: PhoneCall, hz: int) -> None:
        """Send a steady ``hz`` sine into ``call`` from now on (its audio must be ACTIVE)."""
        audio = self._fleet.audio
        self._command(call, f"play {hz} Hz", lambda c: audio.play_tone(call.key, c, hz))

    def start_recording(self, call: PhoneCall, path: Path) -> None:
        """Record what ``call`` receives into the WAV file ``path``."""
        audio = self._fleet.audio
        self._command(call, f"record to {path}", lambda c: audio.start_recording(call.key, c, path))

    def stop_recording(self, call: PhoneCall, timeout: float = 2.0) -> Path:
        """Close the recording of ``call`` (also once the call has ended); wait until its file
        is complete and return its path."""
        what = f"{self.extension}: stop recording call #{call.key}"
        path = self._fleet.run(lambda: self._fleet.audio.stop_recording(call.key), what)
        deadline = time.monotonic() + timeout
        while not finished(path):
            if time.monotonic() > deadline:
                raise PhoneError(f"{what}: {path} was not closed within {timeout} s")
            time.sleep(0.01)
        return path

    def _command(self, call: PhoneCall, what: str, act: Callable[[AgentCall], object]) -> None:
        if call.extension != self.extension:
            raise PhoneError(f"{self.extension}: call #{call.key} belongs to {call.extension}")

        def run() -> None:
            self._line.note("command", f"#{call.key} {what}")
            target = self._fleet.custody.get(call.key)
            if target is None:
                raise PhoneError(f"{self.extension}: cannot {what}: call #{call.key} has ended")
            act(target)

        self._fleet.run(run, f"{self.extension}: {what} on call #{call.key}")
