"""The one thread that owns the process's pjsua2 Endpoint and makes every pjsua2 call.

pjsua2 allows one Endpoint per process, and with `threadCnt = 0` and `mainThreadOnly = True`
nothing inside pjsip runs SIP work on a thread of its own: the thread that called `libCreate`
does it all inside `libHandleEvents`. That thread also runs the jobs other threads submit, so no
pjsua2 object is ever touched (or garbage-collected) by pytest's thread or an asyncio loop.
"""

from __future__ import annotations

import atexit
import ctypes
import heapq
import importlib
import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pjsua2 as pj

from sip_tests.phone_call import PhoneError
from sip_tests.pjsua_calls import MAX_CALL_LEGS

__all__ = ["LoopSettings", "PjsuaLoop", "describe_error"]

T = TypeVar("T")

_SINGLETON = threading.Lock()  # held while a PjsuaLoop owns the process's Endpoint


@dataclass(frozen=True)
class LoopSettings:
    """How to run the Endpoint: poll interval, user agent and where pjsua2's log goes."""

    poll_interval: float = 0.005  # longest a submitted job waits for the thread
    log_path: Path | None = None  # None: pjsua2 logs nothing (it writes to stderr otherwise)
    log_level: int = 4  # 4 includes every SIP message pjsua2 sends and receives
    user_agent: str = "CTI lab phone (pjsua2)"


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    fn: Callable[[], Any] = field(compare=False)
    future: Future[Any] | None = field(compare=False, default=None)


class PjsuaLoop:
    """Run the Endpoint on a dedicated thread; run submitted jobs and timers between polls."""

    def __init__(
        self,
        settings: LoopSettings,
        *,
        teardown: Callable[[PjsuaLoop], bool],
        report: Callable[[str, BaseException], None],
    ) -> None:
        self.settings = settings
        self._teardown = teardown
        self._report = report
        self._inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._timers: list[_Job] = []
        self._seq = itertools.count()
        self._stopping = False
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._endpoint: Any = None
        self.transport_id = -1
        self.local_address = ""
        self.failure: BaseException | None = None

    # --- any thread ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until the Endpoint listens; raise PhoneError if it cannot."""
        if not _SINGLETON.acquire(blocking=False):
            raise PhoneError("a PhoneFleet already runs in this process (pjsua2: one Endpoint)")
        self._thread = threading.Thread(target=self._main, name="pjsua2", daemon=True)
        self._thread.start()
        atexit.register(self.stop)  # a fleet left running: end calls before the process goes
        if not self._started.wait(timeout):
            raise PhoneError(f"the pjsua2 thread did not start within {timeout} s")
        if self.failure is not None:
            self._thread.join(timeout)
            raise PhoneError(f"pjsua2 did not start: {describe_error(self.failure)}") from (
                self.failure
            )

    def stop(self, timeout: float = 15.0) -> None:
        """Hang up, unregister, destroy the Endpoint and end the thread."""
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive():
            self.post(self._request_stop)
            thread.join(timeout)
        if thread.is_alive():
            raise PhoneError(f"the pjsua2 thread did not stop within {timeout} s")
        self._thread = None
        atexit.unregister(self.stop)

    @property
    def alive(self) -> bool:
        """Whether the thread still runs pjsua2 (it ends on stop and on a crash)."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def on_thread(self) -> bool:
        """Whether the caller is the pjsua2 thread (then jobs run inline)."""
        return threading.current_thread() is self._thread

    def submit(self, fn: Callable[[], T], what: str, timeout: float = 5.0) -> T:
        """Run `fn` on the pjsua2 thread and return its result or raise its exception."""
        if self.on_thread():
            return fn()
        if not self.alive:
            raise PhoneError(f"{what}: the pjsua2 thread is not running ({self._why_dead()})")
        future: Future[T] = Future()
        self._inbox.put(_Job(0.0, next(self._seq), fn, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise PhoneError(
                f"{what}: the pjsua2 thread did not run it within {timeout} s"
                f" ({self._why_dead() if not self.alive else 'it is busy or stuck'})"
            ) from None

    def post(self, fn: Callable[[], object], delay: float = 0.0) -> None:
        """Run `fn` on the pjsua2 thread after `delay` seconds; errors go to `report`."""
        self._inbox.put(_Job(time.monotonic() + delay, next(self._seq), fn))

    # --- pjsua2 thread only -------------------------------------------------------------------

    @property
    def endpoint(self) -> Any:
        """The pjsua2 Endpoint; only for the pjsua2 thread."""
        assert self.on_thread(), "pjsua2 used off its thread"
        return self._endpoint

    def add_transport(self, host: str) -> int:
        """Create another UDP transport on ``host`` (ephemeral port); return its pjsua2 id."""
        transport = pj.TransportConfig()
        transport.boundAddress = host
        transport.port = 0
        return int(self.endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport))

    def pump(self, until: Callable[[], bool], timeout: float) -> bool:
        """Handle SIP events and jobs until `until()` holds or `timeout` passes (teardown)."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() >= deadline:
                return False
            self._iterate()
        return True

    def _main(self) -> None:
        try:
            self._create()
        except BaseException as exc:
            _detach(exc)  # its frames hold the Endpoint, which must die on this thread
            self.failure = exc
            self._destroy()
            _SINGLETON.release()
            self._started.set()
            return
        self._started.set()
        try:
            while not self._stopping:
                self._iterate()
        except BaseException as exc:
            _detach(exc)
            self.failure = exc
            self._report("pjsua2 thread", exc)
        finally:
            self._stopping = True
            self._fail_pending()
            settled = False
            try:
                settled = self._teardown(self)
            except BaseException as exc:
                self._report("teardown", exc)
            self._destroy(settled)
            self._fail_pending()
            _SINGLETON.release()

    def _create(self) -> None:
        _silence_pjlib()  # libCreate logs a banner to stderr before any LogConfig applies
        ep = pj.Endpoint()
        self._endpoint = ep
        ep.libCreate()
        ep.libInit(_endpoint_config(self.settings))
        transport = pj.TransportConfig()
        transport.boundAddress = "127.0.0.1"
        transport.port = 0  # ephemeral: phones of parallel test processes never collide
        self.transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.local_address = ep.transportGetInfo(self.transport_id).localName
        ep.libStart()
        ep.audDevManager().setNullDev()  # no sound card: a clock that plays and records nothing

    def _iterate(self) -> None:
        now = time.monotonic()
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                break
            heapq.heappush(self._timers, job)
        while self._timers and self._timers[0].due <= now:
            self._run(heapq.heappop(self._timers))
        self._endpoint.libHandleEvents(int(self.settings.poll_interval * 1000))

    def _run(self, job: _Job) -> None:
        if job.future is None:
            try:
                job.fn()
            except Exception as exc:
                self._report("posted job", exc)
            return
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.fn())
        except BaseException as exc:
            _detach(exc)
            job.future.set_exception(exc)

    def _request_stop(self) -> None:
        self._stopping = True

    def _fail_pending(self) -> None:
        """Fail the jobs nobody will run, so that no submitter waits for its timeout."""
        while True:
            try:
                self._timers.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for job in self._timers:
            if job.future is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(PhoneError("the pjsua2 thread stopped"))
        self._timers.clear()

    def _destroy(self, settled: bool = False) -> None:
        """Destroy the Endpoint; skip pjsua's fixed 1 s shutdown sleep if `settled`.

        `settled` says the teardown already saw every call end and every phone unregister, so
        there is no SIP response left to wait for (PJSUA_DESTROY_NO_RX_MSG).
        """
        ep, self._endpoint = self._endpoint, None
        if ep is None:
            return
        try:
            ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG if settled else 0)
        except pj.Error as exc:
            self._report("libDestroy", exc)
        del ep  # ~Endpoint on this thread, after every Account and Call object is gone

    def _why_dead(self) -> str:
        if self.failure is not None:
            return f"it failed: {describe_error(self.failure)}"
        return "the fleet is stopped"


def _endpoint_config(settings: LoopSettings) -> Any:
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # no pjsip worker thread: SIP work runs in libHandleEvents
    cfg.uaConfig.mainThreadOnly = True  # callbacks from other threads queue for this one
    cfg.uaConfig.maxCalls = MAX_CALL_LEGS
    cfg.uaConfig.userAgent = settings.user_agent
    cfg.logConfig.consoleLevel = 0
    cfg.logConfig.level = settings.log_level if settings.log_path else 0
    cfg.logConfig.msgLogging = settings.log_path is not None
    if settings.log_path is not None:
        cfg.logConfig.filename = str(settings.log_path)
    cfg.medConfig.noVad = True  # send RTP all the time, like a desk phone
    return cfg


def _silence_pjlib() -> None:
    """Set pjlib's log level to 0 through its C API, which pjsua2 does not expose."""
    try:
        module = importlib.import_module("pjsua2._pjsua2")
        ctypes.CDLL(module.__file__).pj_log_set_level(0)
    except (ImportError, OSError, AttributeError, TypeError):
        pass  # another build of the bindings: the banner reaches stderr, nothing worse


def _detach(exc: BaseException) -> None:
    """Clear the locals of the frames an exception drags along to the submitting thread.

    A frame of this thread may hold a pjsua2 Call or Account; if the last reference went away
    with the exception on another thread, its C++ destructor would call pjsua from a thread
    pjlib does not know, and pjlib's assertion aborts the interpreter.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


def describe_error(exc: BaseException) -> str:
    """Render a pjsua2 Error (whose str() is empty) or any other exception in one line."""
    if isinstance(exc, pj.Error):
        return f"{exc.title}: {exc.reason} (status {exc.status})"
    return f"{type(exc).__name__}: {exc}"
