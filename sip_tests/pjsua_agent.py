"""pjsua2 Account and Call subclasses that hand every callback to a plain-Python listener.

These are the only pjsua2 subclasses. Their callbacks run on the pjsua2 thread inside
`libHandleEvents`; they read what pjsua2 reports, pass it on and return. A Python exception
escaping a SWIG director callback would unwind through pjsip's C code, so each callback catches
everything and reports it instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import pjsua2 as pj

from sip_tests.phone_call import CALL_STATES, StateChange

__all__ = [
    "AgentAccount",
    "AgentCall",
    "PhoneListener",
    "account_config",
    "call_op",
    "carrier_config",
]

# pjsua_call_media_status
_MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "NONE",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "ACTIVE",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "LOCAL_HOLD",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "REMOTE_HOLD",
    pj.PJSUA_CALL_MEDIA_ERROR: "ERROR",
}


class PhoneListener(Protocol):
    """What a phone does with the callbacks of its account and calls (pjsua2 thread)."""

    def registration_changed(self, code: int, reason: str, expiration: int) -> None: ...

    def call_arrived(self, at: float, pj_call_id: int, message: str, source: str) -> None: ...

    def call_state_changed(
        self, key: int, change: StateChange, sip_call_id: str, remote_uri: str
    ) -> None: ...

    def call_media_changed(self, key: int, status: str) -> None: ...

    def transfer_progressed(self, key: int, code: int, reason: str, final: bool) -> None: ...

    def callback_failed(self, where: str, exc: BaseException) -> None: ...


class AgentAccount(pj.Account):  # type: ignore[misc]
    """One registered extension; reports registrations and incoming INVITEs."""

    def __init__(self, listener: PhoneListener) -> None:
        super().__init__()
        self.listener = listener

    def onRegState(self, prm: Any) -> None:
        _guard(
            self.listener,
            "onRegState",
            lambda: self.listener.registration_changed(
                int(prm.code), str(prm.reason), int(prm.expiration)
            ),
        )

    def onIncomingCall(self, prm: Any) -> None:
        at = time.monotonic()  # first: the INVITE time the benchmarks compare across processes
        _guard(
            self.listener,
            "onIncomingCall",
            lambda: self.listener.call_arrived(
                at, int(prm.callId), str(prm.rdata.wholeMsg), str(prm.rdata.srcAddress)
            ),
        )


class AgentCall(pj.Call):  # type: ignore[misc]
    """One call leg; `key` names its record in the phone."""

    def __init__(self, account: AgentAccount, key: int, pj_call_id: int | None = None) -> None:
        if pj_call_id is None:
            super().__init__(account)
        else:
            super().__init__(account, pj_call_id)
        self.key = key
        self.listener = account.listener

    def onCallState(self, prm: Any) -> None:
        at = time.monotonic()

        def forward() -> None:
            info = self.getInfo()
            state = CALL_STATES[int(info.state)]
            change = StateChange(state, at, int(info.lastStatusCode), str(info.lastReason))
            self.listener.call_state_changed(
                self.key, change, str(info.callIdString), str(info.remoteUri)
            )

        _guard(self.listener, "onCallState", forward)

    def onCallMediaState(self, prm: Any) -> None:
        def forward() -> None:
            # Keep `info` bound: SWIG's `info.media` points into it and dangles once it is freed.
            info = self.getInfo()
            audio = [int(m.status) for m in info.media if m.type == pj.PJMEDIA_TYPE_AUDIO]
            status = _MEDIA_STATUS.get(audio[0], "?") if audio else "NONE"
            self.listener.call_media_changed(self.key, status)

        _guard(self.listener, "onCallMediaState", forward)

    def onCallTransferStatus(self, prm: Any) -> None:
        _guard(
            self.listener,
            "onCallTransferStatus",
            lambda: self.listener.transfer_progressed(
                self.key, int(prm.statusCode), str(prm.reason), bool(prm.finalNotify)
            ),
        )


def account_config(extension: str, password: str, registrar: str, transport_id: int) -> Any:
    """Build the AccountConfig of an agent phone that registers at `registrar` (host:port)."""
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{extension}@{registrar}"
    cfg.regConfig.registrarUri = f"sip:{registrar}"
    cfg.regConfig.timeoutSec = 120  # a crashed run's contact lapses soon
    cfg.sipConfig.transportId = transport_id
    cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", extension, 0, password))
    # Loopback needs no NAT help; Asterisk's rewrite_contact/force_rport cover the rest.
    cfg.natConfig.contactRewriteUse = 0
    cfg.natConfig.viaRewriteUse = 0
    cfg.natConfig.sipOutboundUse = 0
    cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    cfg.mediaConfig.transportConfig.port = 0  # ephemeral RTP/RTCP pairs
    return cfg


def carrier_config(number: str, host: str, transport_id: int) -> Any:
    """Build the AccountConfig of a carrier line: no registration, calls sent from ``host``.

    The lab's trunk is identified by its source address (pjsip.conf ``identify``), so calls
    placed on a transport bound to that address enter the dialplan as the carrier's.
    """
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{number}@{host}"
    cfg.sipConfig.transportId = transport_id
    cfg.natConfig.contactRewriteUse = 0
    cfg.natConfig.viaRewriteUse = 0
    cfg.natConfig.sipOutboundUse = 0
    cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    cfg.mediaConfig.transportConfig.port = 0
    return cfg


def call_op(status_code: int = 0) -> Any:
    """Build the CallOpParam for answer/hangup/transfer, with an optional status code."""
    prm = pj.CallOpParam(True)
    if status_code:
        prm.statusCode = status_code
    return prm


def _guard(listener: PhoneListener, where: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except BaseException as exc:  # never let it cross the SWIG director into pjsip
        with contextlib.suppress(BaseException):  # nothing else to do inside a callback
            listener.callback_failed(where, exc)
