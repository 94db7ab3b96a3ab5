"""Run SIPp as the lab's carrier: inbound calls, the far end of outbound calls, and load.

SIPp (Debian's ``sip-tester``) takes numbers such as timeouts only as literal XML attributes, so
the scenarios in ``scenarios/`` hold ``@@NAME@@`` placeholders that :func:`render_scenario`
fills in; caller ids travel as ``-key`` values, so a hostile caller name never touches the XML.
Every outcome a scenario reaches is a ``<log>`` line ``<call-id> outcome=<what> [k=v ...]``
read back into :class:`SippResult`.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
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

    def describe(self) -> str:
        """How this SIPp's calls went so far, for a failure's message: each outcome counted,
        its exit status (None: running), its working directory and the end of its stderr."""
        counted = Counter(o.outcome for o in self.outcomes())
        outcomes = ", ".join(f"{name} {n}" for name, n in sorted(counted.items())) or "none"
        return (
            f"outcomes so far: {outcomes}; exit={self.proc.poll()}; "
            f"workdir {self.workdir}; stderr: {self._stderr_text()[-800:]}"
        )

    def _explain(self, what: str) -> str:
        return f"{what}; {self.describe()}"


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


# SIPp binds -mp and -mp+2 (audio and video RTP); a block of four keeps their RTCP ports free
# too. A kernel ephemeral port for -mp says nothing of the ports after it (CI lost a drill to a
# video port taken), and the ephemeral range is where other processes' sockets come and go: the
# blocks are taken from a range below it, under the test labs' SIP ports and above any lab's RTP.
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
    local_port: int | None,
    remote: str | None,
    global_timeout_s: float,
    tries: int = 4,
) -> SippProcess:
    """Start SIPp and return once it listens on its SIP port (``None``: a free one is taken).

    SIPp binds its SIP port and its audio and video RTP ports, and exits if one is taken: a port
    found free a moment before can be gone by then (another SIPp started just before has not
    bound its ports yet). Such a start is tried again on other ports, up to ``tries`` times;
    any other exit at start is an error with SIPp's own words.
    """
    args = list(args)
    for attempt in range(1, tries + 1):
        workdir = Path(tempfile.mkdtemp(prefix="sipp-"))
        path = render_scenario(scenario, values, workdir)
        log_file = workdir / "outcomes.log"
        port = free_udp_port(local_host) if local_port is None else local_port
        media = free_media_ports(local_host)
        argv = [_sipp()]
        if remote:
            argv.append(remote)
        argv += [
            "-sf", str(path),
            "-i", local_host, "-p", str(port), "-t", "u1",
            "-mi", local_host, "-mp", str(media),
            "-aa", "-nostdin", "-trace_logs", "-log_file", str(log_file),
            "-timeout", f"{int(global_timeout_s)}s", "-timeout_error",
            *args,
        ]  # fmt: skip
        proc = SippProcess(argv, workdir, log_file)
        try:
            _wait_bound(proc, (port, media, media + 2))
        except SippError:
            if attempt == tries or "Address already in use" not in proc._stderr_text():
                raise
            cleanup_workdirs([proc])
            continue
        return proc
    raise AssertionError("unreachable")  # the last try returns or raises


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
        local_port=None,
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
        local_port=None,
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
    return _start(
        "trunk_far_end.xml",
        values,
        ["-m", str(max_calls)],
        local_host=target.trunk_host,
        local_port=target.trunk_port,
        remote=None,
        global_timeout_s=lifetime_s,
    )


def _wait_bound(proc: SippProcess, ports: Collection[int], timeout_s: float = 5.0) -> None:
    """Wait until SIPp itself holds UDP ``ports`` (its SIP port, its audio and video RTP), so
    Asterisk's first INVITE is not lost; raise SippError if it exits or never binds them.

    Asked of the kernel's socket table for SIPp's own sockets: a port that merely cannot be
    bound may be held by another process, while this SIPp is dying of exactly that.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            proc.stop()  # its log file closed
            raise SippError(proc._explain("SIPp exited at start"))
        if set(ports) <= _udp_ports_of(proc.proc.pid):
            return
        time.sleep(0.01)
    proc.stop()
    raise SippError(proc._explain(f"SIPp never bound UDP ports {sorted(ports)}"))


def _udp_ports_of(pid: int) -> set[int]:
    """The local UDP ports process ``pid`` has sockets on (Linux: its fds and /proc/net/udp)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()  # sl local rem st queues timer retr uid timeout inode
                if len(fields) > 9 and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def cleanup_workdirs(procs: Iterable[SippProcess]) -> None:
    """Remove the temporary directories of finished SIPp runs."""
    for proc in procs:
        for directory in (proc.workdir, *proc.extra_dirs):
            shutil.rmtree(directory, ignore_errors=True)
