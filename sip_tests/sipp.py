"""Run SIPp as the lab's carrier: inbound calls, the far end of outbound calls, and load.

SIPp (Debian's ``sip-tester``) takes numbers such as timeouts only as literal XML attributes, so
the scenarios in ``scenarios/`` hold ``@@NAME@@`` placeholders that :func:`render_scenario`
fills in; caller ids travel as ``-key`` values, so a hostile caller name never touches the XML.
Every outcome a scenario reaches is a ``<log>`` line ``<call-id> outcome=<what> [k=v ...]``
read back into :class:`SippResult`.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "SipTarget",
    "SippError",
    "SippProcess",
    "SippResult",
    "free_udp_port",
    "inbound_call",
    "inbound_load",
    "render_scenario",
    "sip_user",
    "trunk_far_end",
]

SCENARIOS = Path(__file__).parent / "scenarios"
_LOG_LINE = re.compile(r"(?P<call_id>\S+) outcome=(?P<outcome>\w+)(?P<rest>.*)")
# A From URI user part (RFC 3261 25.1: unreserved, escaped and some user-unreserved characters).
_SIP_USER = re.compile(r"(?:[0-9A-Za-z*#._!~'()&=+$,-]|%[0-9A-Fa-f]{2}){1,96}")


class SippError(AssertionError):
    """SIPp did not do what a test asked of it (missing binary, timeout, failed calls)."""


@dataclass(frozen=True, slots=True)
class SipTarget:
    """Where the lab Asterisk listens and where its trunk's far end (SIPp) lives."""

    asterisk_host: str = "127.0.0.1"
    asterisk_port: int = 5060
    trunk_host: str = "127.0.0.2"
    trunk_port: int = 5080


@dataclass(frozen=True, slots=True)
class Outcome:
    call_id: str
    outcome: str
    fields: Mapping[str, str]
    at: float  # seconds since the epoch, when the log line was read


@dataclass(slots=True)
class SippResult:
    returncode: int
    outcomes: list[Outcome] = field(default_factory=list)
    stderr: str = ""

    def of(self, outcome: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome == outcome]


class SippProcess:
    """One running SIPp; :meth:`wait` returns its :class:`SippResult`; always :meth:`stop` it."""

    def __init__(self, argv: list[str], workdir: Path, log_file: Path) -> None:
        self.argv = argv
        self.workdir = workdir
        self.extra_dirs: list[Path] = []  # made for this run too (an injection file's)
        self.log_file = log_file
        self._stderr = (workdir / "stderr.log").open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )

    def outcomes(self) -> list[Outcome]:
        """Return the outcomes logged so far (the call may still be running)."""
        if not self.log_file.exists():
            return []
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            match = _LOG_LINE.search(line)
            if match:
                rest = dict(kv.split("=", 1) for kv in match["rest"].split() if "=" in kv)
                found.append(Outcome(match["call_id"], match["outcome"], rest, time.time()))
        return found

    def wait_outcome(self, outcome: str, timeout_s: float, count: int = 1) -> list[Outcome]:
        """Wait until ``count`` calls logged ``outcome``; raise SippError on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = [o for o in self.outcomes() if o.outcome == outcome]
            if len(seen) >= count:
                return seen
            if self.proc.poll() is not None:
                seen = [o for o in self.outcomes() if o.outcome == outcome]
                if len(seen) >= count:
                    return seen
                raise SippError(self._explain(f"SIPp exited before {count}x {outcome!r}"))
            time.sleep(0.02)
        raise SippError(self._explain(f"no {count}x {outcome!r} within {timeout_s} s"))

    def wait(self, timeout_s: float = 60.0) -> SippResult:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise SippError(self._explain(f"SIPp still running after {timeout_s} s")) from None
        self._stderr.close()
        return SippResult(code, self.outcomes(), self._stderr_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def _stderr_text(self) -> str:
        path = self.workdir / "stderr.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _explain(self, what: str) -> str:
        outcomes = ", ".join(o.outcome for o in self.outcomes()) or "none"
        return (
            f"{what}; outcomes so far: {outcomes}; exit={self.proc.poll()}; "
            f"workdir {self.workdir}; stderr: {self._stderr_text()[-800:]}"
        )


def render_scenario(name: str, values: Mapping[str, object], workdir: Path) -> Path:
    """Write scenario ``name`` with its ``@@KEY@@`` placeholders filled in; return its path."""
    text = (SCENARIOS / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", str(value))
    left = set(re.findall(r"@@(\w+)@@", text))
    if left:
        raise SippError(f"scenario {name} still has placeholders {sorted(left)}")
    path = workdir / name
    path.write_text(text)
    return path


def free_udp_port(host: str) -> int:
    """Return a UDP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# SIPp binds four media ports from -mp up (audio RTP and RTCP, video RTP and RTCP). A kernel
# ephemeral port for -mp says nothing of the three after it (CI lost a drill to a video port
# taken), and the ephemeral range is where other processes' sockets come and go: the blocks are
# taken from a range below it, under the test labs' SIP ports and above any lab's RTP.
_MEDIA_PORTS = range(12000, 24996, 4)


def free_media_ports(host: str, *, tries: int = 50) -> int:
    """Return the first of four consecutive UDP ports on ``host`` free right now."""
    for _ in range(tries):
        first = random.choice(_MEDIA_PORTS)
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + 4):
                    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind((host, port))
            except OSError:
                continue
        return first
    raise SippError(f"no four free consecutive UDP ports on {host} for SIPp's media")


def _sipp() -> str:
    binary = shutil.which("sipp")
    if binary is None:
        raise SippError("sipp is not installed: apt-get install sip-tester")
    return binary


def _start(
    scenario: str,
    values: Mapping[str, object],
    args: Iterable[str],
    *,
    local_host: str,
    local_port: int,
    remote: str | None,
    global_timeout_s: float,
) -> SippProcess:
    workdir = Path(tempfile.mkdtemp(prefix="sipp-"))
    path = render_scenario(scenario, values, workdir)
    log_file = workdir / "outcomes.log"
    argv = [_sipp()]
    if remote:
        argv.append(remote)
    argv += [
        "-sf", str(path),
        "-i", local_host, "-p", str(local_port), "-t", "u1",
        "-mi", local_host, "-mp", str(free_media_ports(local_host)),
        "-aa", "-nostdin", "-trace_logs", "-log_file", str(log_file),
        "-timeout", f"{int(global_timeout_s)}s", "-timeout_error",
        *args,
    ]  # fmt: skip
    return SippProcess(argv, workdir, log_file)


def sip_user(caller_id: str) -> str:
    """Return ``caller_id`` %-escaped as a SIP URI user part; Asterisk decodes the escapes
    into CALLERID(num), so a test can send a caller id holding quotes, braces or spaces."""
    return quote(caller_id, safe="-_.!~*'()&=+$,")


def _sip_quoted(text: str) -> str:
    """Return ``text`` safe inside a SIP quoted-string display name (RFC 3261 25.1)."""
    cleaned = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    return cleaned.replace("\\", "\\\\").replace('"', '\\"')


def inbound_call(
    target: SipTarget,
    did: str,
    caller_num: str,
    caller_name: str = "",
    *,
    answer_timeout_s: float = 30.0,
    hold_s: float = 5.0,
    rtp_echo: bool = False,
) -> SippProcess:
    """Place one carrier call to ``did``; abandon if unanswered after ``answer_timeout_s``.

    ``rtp_echo``: send back every RTP packet received (SIPp -rtp_echo), so the agent's phone
    hears its own audio and packet counts on both sides show media flowing both ways.
    """
    if not _SIP_USER.fullmatch(caller_num):
        raise SippError(
            f"caller number {caller_num!r} cannot be a SIP URI user part here (see sip_user)"
        )
    values = {
        "CALLER_NAME": "[caller_name]",
        "CALLER_NUM": "[caller_num]",
        "ANSWER_TIMEOUT_MS": int(answer_timeout_s * 1000),
        "HOLD_MS": int(hold_s * 1000),
    }
    args = [
        "-s", did, "-m", "1", "-l", "1",
        "-key", "caller_num", caller_num, "-key", "caller_name", _sip_quoted(caller_name),
        *(["-rtp_echo"] if rtp_echo else []),
    ]  # fmt: skip
    return _start(
        "inbound_call.xml",
        values,
        args,
        local_host=target.trunk_host,
        local_port=free_udp_port(target.trunk_host),
        remote=f"{target.asterisk_host}:{target.asterisk_port}",
        global_timeout_s=answer_timeout_s + hold_s + 30,
    )


def inbound_load(
    target: SipTarget,
    did: str,
    callers: list[tuple[str, str]],
    *,
    rate_per_s: float,
    count: int,
    hold_s: float = 2.0,
    answer_timeout_s: float = 30.0,
    max_concurrent: int = 200,
) -> SippProcess:
    """Place ``count`` calls at ``rate_per_s`` to ``did``, callers taken in turn from ``callers``.

    Bounded by construction: SIPp stops after ``count`` calls and a global timeout.
    """
    if not callers or count < 1 or rate_per_s <= 0:
        raise SippError("inbound_load needs callers, a positive count and a positive rate")
    workdir_csv = Path(tempfile.mkdtemp(prefix="sipp-inf-")) / "callers.csv"
    lines = ["SEQUENTIAL"] + [
        f"{num};{_sip_quoted(name).replace(';', ',')}" for num, name in callers
    ]
    workdir_csv.write_text("\n".join(lines) + "\n")
    values = {
        "CALLER_NAME": "[field1]",
        "CALLER_NUM": "[field0]",
        "ANSWER_TIMEOUT_MS": int(answer_timeout_s * 1000),
        "HOLD_MS": int(hold_s * 1000),
    }
    args = [
        "-s", did, "-m", str(count), "-r", str(rate_per_s), "-rp", "1000",
        "-l", str(max_concurrent), "-inf", str(workdir_csv),
    ]  # fmt: skip
    proc = _start(
        "inbound_call.xml",
        values,
        args,
        local_host=target.trunk_host,
        local_port=free_udp_port(target.trunk_host),
        remote=f"{target.asterisk_host}:{target.asterisk_port}",
        global_timeout_s=count / rate_per_s + answer_timeout_s + hold_s + 60,
    )
    proc.extra_dirs.append(workdir_csv.parent)
    return proc


def trunk_far_end(
    target: SipTarget,
    *,
    answer_delay_s: float = 0.5,
    hold_s: float = 30.0,
    max_calls: int = 1,
    lifetime_s: float = 120.0,
) -> SippProcess:
    """Listen as the trunk's far end; answer up to ``max_calls`` outbound calls from Asterisk."""
    values = {"ANSWER_DELAY_MS": int(answer_delay_s * 1000), "HOLD_MS": int(hold_s * 1000)}
    proc = _start(
        "trunk_far_end.xml",
        values,
        ["-m", str(max_calls)],
        local_host=target.trunk_host,
        local_port=target.trunk_port,
        remote=None,
        global_timeout_s=lifetime_s,
    )
    _wait_bound(target.trunk_host, target.trunk_port, proc)
    return proc


def _wait_bound(host: str, port: int, proc: SippProcess, timeout_s: float = 5.0) -> None:
    """Wait until SIPp has bound its UDP port, so Asterisk's first INVITE is not lost."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            proc.stop()  # its log file closed
            raise SippError(proc._explain("SIPp (far end) exited at start"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return  # taken: SIPp is listening
        time.sleep(0.02)
    proc.stop()
    raise SippError(proc._explain(f"SIPp never bound {host}:{port}"))


def cleanup_workdirs(procs: Iterable[SippProcess]) -> None:
    """Remove the temporary directories of finished SIPp runs."""
    for proc in procs:
        for directory in (proc.workdir, *proc.extra_dirs):
            shutil.rmtree(directory, ignore_errors=True)
