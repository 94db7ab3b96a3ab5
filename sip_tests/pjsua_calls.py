"""Custody of the pjsua2 Call objects, within the compile-time limits of the pjsua2 wheel.

The wheel is built with pjproject's default config_site, not the larger numbers its docs quote.
Past two of these limits pjlib does not return an error but fails an assertion, which aborts the
whole interpreter (pytest included), so the fleet refuses or delays the call instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from sip_tests.phone_call import PhoneError
from sip_tests.pjsua_agent import AgentCall

__all__ = [
    "MAX_ACCOUNTS",
    "MAX_CALL_LEGS",
    "MEDIA_SOCKETS",
    "SOCKET_RECYCLE",
    "CallCustody",
    "LegBudget",
]

MAX_ACCOUNTS = 8  # PJSUA_MAX_ACC: the 9th Account aborts (assertion in pjsua_acc_add)
MAX_CALL_LEGS = 4  # PJSUA_MAX_CALLS: calls in and out, all phones of the process together;
# pjsua clamps uaConfig.maxCalls to it, makeCall then fails with PJ_ETOOMANY and pjsua itself
# answers a further incoming INVITE with 486 before any callback.
MEDIA_SOCKETS = 64  # PJ_IOQUEUE_MAX_HANDLES of pjmedia's ioqueue; one more aborts (assertion)
SOCKET_RECYCLE = 0.5  # PJ_IOQUEUE_KEY_FREE_DELAY: a closed socket's slot is reused 500 ms later
_SOCKETS_PER_LEG = 2  # RTP and RTCP


class LegBudget:
    """Count live call legs and recently closed RTP sockets; say when a new leg must wait.

    A leg's two media sockets keep their ioqueue slots for SOCKET_RECYCLE seconds after the call
    ends, so fast call churn (about 30 legs ended within half a second) exhausts the ioqueue even
    with only a few calls up. The caller holds the fleet's lock.
    """

    def __init__(self) -> None:
        self.live = 0
        self._ended: deque[float] = deque()

    def opened(self) -> None:
        """Count a new call leg (in or out)."""
        self.live += 1

    def closed(self, at: float) -> None:
        """Count a call leg that ended at `at` (time.monotonic)."""
        self.live = max(0, self.live - 1)
        self._ended.append(at)

    def full(self) -> bool:
        """Whether pjsua has no call slot left for another leg."""
        return self.live >= MAX_CALL_LEGS

    def recycling(self, now: float) -> bool:
        """Whether a new leg could exhaust the ioqueue before closed sockets come back."""
        while self._ended and self._ended[0] <= now - SOCKET_RECYCLE:
            self._ended.popleft()
        # Room for every slot to fill (incoming calls are not gated), the recently closed, and
        # a margin for legs that end between this check and the new leg's socket.
        return _SOCKETS_PER_LEG * (MAX_CALL_LEGS + len(self._ended)) > MEDIA_SOCKETS - 8


class CallCustody:
    """Hold every pjsua2 Call object of the fleet on the pjsua2 thread, and delete them safely.

    A Call object must outlive every callback pjsua may make into it, must be deleted on the
    pjsua2 thread, and must not be deleted once pjsua has given its call slot to a new call:
    ~Call clears the user data of that slot and hangs up whatever call is active there, which
    would orphan or end the new call (with 4 slots, reuse comes soon).
    """

    def __init__(self, cond: threading.Condition, post: Callable[[Callable[[], None]], None]):
        self._cond = cond
        self._post = post
        self._budget = LegBudget()  # guarded by cond: test threads wait on it
        self._live: dict[int, AgentCall] = {}
        self._retired: dict[int, AgentCall] = {}
        self._graveyard: list[AgentCall] = []

    def __len__(self) -> int:
        """Count the calls that have not ended."""
        return len(self._live)

    def adopt(self, key: int, call: AgentCall) -> None:
        """Keep a new Call object alive while pjsua may call back into it."""
        self._live[key] = call
        with self._cond:
            self._budget.opened()

    def get(self, key: int) -> AgentCall | None:
        """Return the Call object of a record, or None once the call has ended."""
        return self._live.get(key)

    def retire(self, key: int) -> None:
        """Take a DISCONNECTED call out of service; delete its object on the next turn.

        Not inside its own onCallState: the SWIG director still runs a method of it there.
        """
        call = self._live.pop(key, None)
        if call is not None:
            with self._cond:
                self._budget.closed(time.monotonic())
            self._retired[key] = call
            self._post(lambda: self._bury(key))

    def check_capacity(self, what: str) -> None:
        """Refuse a new outgoing leg that pjsua would refuse with PJ_ETOOMANY."""
        with self._cond:
            if self._budget.full():
                raise PhoneError(
                    f"{what}: the fleet already has {MAX_CALL_LEGS} call legs up, the most a"
                    " process can hold (PJSUA_MAX_CALLS of the pjsua2 wheel); use more processes"
                )

    def sockets_free(self) -> bool | None:
        """Return True when a new leg cannot exhaust pjmedia's ioqueue; the lock is held.

        Test threads wait for this before they submit a call (`Phone.call`). The budget keeps a
        margin for the legs that end between that check and the INVITE.
        """
        return None if self._budget.recycling(time.monotonic()) else True

    def drop_all(self) -> None:
        """Delete every Call object at teardown (~Call hangs up a call still up)."""
        self._live.clear()
        self._retired.clear()
        self._graveyard.clear()

    def _bury(self, key: int) -> None:
        call = self._retired.pop(key, None)
        if call is not None and any(c.getId() == call.getId() for c in self._live.values()):
            self._graveyard.append(call)  # its slot serves a live call: delete at teardown
