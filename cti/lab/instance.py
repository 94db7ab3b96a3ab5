"""Start, check and stop one lab Asterisk instance on loopback.

An instance is a directory (``/var/lib/cti-lab/<name>`` inside the Asterisk root) holding its
rendered configuration, logs, spool and control socket, and a ``lab.json`` naming the pid it was
started with. Several instances (the developer's ``dev``, the test suite's ``pytest``) share one
root and differ only by ports. ``stop`` signals exactly the pid it started, after checking that
the pid still belongs to that instance's Asterisk.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cti.config import LabSettings
from cti.errors import LabError
from cti.lab.ami_probe import wait_fully_booted
from cti.lab.provision import AsteriskInstall
from cti.lab.tls import LabCertificate, lab_certificate

__all__ = [
    "LabInstance",
    "LabStatus",
    "ice_host_candidates",
    "machine_addresses",
    "render_conf",
]

_CONF_FILES = (
    "manager.conf",
    "pjsip.conf",
    "extensions.conf",
    "queues.conf",
    "rtp.conf",
    "http.conf",
    "modules.conf",
    "cdr.conf",
    "logger.conf",
    "musiconhold.conf",
    "features.conf",
    "indications.conf",
    "acl.conf",
    "udptl.conf",
    "ccss.conf",
    "cel.conf",
)


# Asterisk outlives the Popen that started it (the CLI exits, a test session ends); keeping the
# Popen referenced stops Python from warning that a child is "still running" when it is collected.
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True, slots=True)
class LabStatus:
    instance: str
    running: bool
    pid: int | None
    version: str | None
    ami: str
    ami_tls: str
    tls_ca_file: str
    sip: str
    websocket: str
    trunk: str
    active_channels: int | None
    directory: str


class LabInstance:
    """One named lab Asterisk on the ports of ``settings``, run from ``install``."""

    def __init__(self, install: AsteriskInstall, settings: LabSettings) -> None:
        self.install = install
        self.settings = settings
        self.inside = Path("/var/lib/cti-lab") / settings.instance  # path seen by Asterisk
        self.directory = _host_path(install.root, self.inside)
        self.state_file = self.directory / "lab.json"

    # ----------------------------------------------------------------------------- queries
    def pid(self) -> int | None:
        """Return the pid of this instance's running Asterisk, or None."""
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        pid = state.get("pid")
        return pid if isinstance(pid, int) and self._owns(pid) else None

    def _config_digest(self, without: Sequence[str] = ()) -> str:
        """A digest of everything the instance is rendered from: the config files and the ports
        (and the modules left out, so a later plain start runs the whole configuration again)."""
        digest = hashlib.sha256(json.dumps(_jsonable(self.settings), sort_keys=True).encode())
        source = self.settings.config_dir
        for path in sorted(source.glob("*.conf")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        if without:
            digest.update(b"without\0" + ",".join(sorted(without)).encode())
        return digest.hexdigest()

    def _running_config(self) -> str | None:
        try:
            return str(json.loads(self.state_file.read_text()).get("config"))
        except (OSError, ValueError):
            return None

    def status(self) -> LabStatus:
        s = self.settings
        pid = self.pid()
        channels = None
        if pid is not None:
            out = self.cli("core show channels count", check=False)
            match = re.search(r"(\d+) active channels?", out)
            channels = int(match.group(1)) if match else None
        return LabStatus(
            instance=s.instance,
            running=pid is not None,
            pid=pid,
            version=self.install.version,
            ami=f"127.0.0.1:{s.ami_port}",
            ami_tls=f"127.0.0.1:{s.ami_tls_port}",
            tls_ca_file=str(self.certificate(make=False).ca_file),
            sip=f"127.0.0.1:{s.sip_port}",
            websocket=f"ws://127.0.0.1:{s.http_port}/ws",
            trunk=f"{s.trunk_host}:{s.trunk_port}",
            active_channels=channels,
            directory=str(self.directory),
        )

    def certificate(self, *, make: bool = True) -> LabCertificate:
        """The lab CA and Asterisk's AMI certificate (made on first use, kept across restarts);
        a daemon reaching the lab over TLS trusts ``certificate().ca_file``."""
        return lab_certificate(self.directory / "lib" / "tls", make=make)

    def log_files(self) -> list[Path]:
        return [self.directory / "log" / "messages", self.directory / "log" / "stdout.log"]

    def cdr_file(self) -> Path:
        """Asterisk's own CDR (cdr_csv): ground truth for counting calls."""
        return self.directory / "log" / "cdr-csv" / "Master.csv"

    def queue_log_file(self) -> Path:
        """app_queue's own log (logger.conf ``queue_log``): ground truth for queue figures."""
        return self.directory / "log" / "queue_log"

    # ---------------------------------------------------------------------------- commands
    def start(self, *, without: Sequence[str] = ()) -> tuple[bool, float]:
        """Start Asterisk unless it runs already; return (started, seconds until fully booted).

        ``without``: modules (``res_pjsip_transport_websocket.so``) modules.conf loads that this
        run leaves out, as on a PBX whose admin never loaded them; the next start without them
        restarts Asterisk with the whole configuration."""
        t0 = time.monotonic()
        if self.pid() is not None:
            if self._running_config() == self._config_digest(without):
                self._wait_ready(t0)
                return False, time.monotonic() - t0
            # asterisk-config/ (or the ports) changed since it started: a lab must run what the
            # repository says, so restart it rather than serve an old dialplan to the tests.
            self.stop()
        self._check_ports_free()
        self._render(without)
        stdout = (self.directory / "log" / "stdout.log").open("ab")
        with stdout:
            proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _STARTED.append(proc)
        state = {
            "pid": proc.pid,
            "started_at": time.time(),
            "settings": _jsonable(self.settings),
            "config": self._config_digest(without),
        }
        self.state_file.write_text(json.dumps(state, indent=2))
        try:
            self._wait_ready(t0, proc)
        except LabError:
            self.stop()
            raise
        return True, time.monotonic() - t0

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop this instance's Asterisk (and nothing else); return whether one was running."""
        pid = self.pid()
        if pid is None:
            self.state_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                _reap(pid)
                time.sleep(0.05)
        for proc in [p for p in _STARTED if p.pid == pid]:
            # Collect its status. /proc may show it gone a moment before the kernel lets its
            # parent reap it: wait, or it is collected unreaped ("still running" warning).
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            _STARTED.remove(proc)
        self.state_file.unlink(missing_ok=True)
        return True

    def cli(self, command: str, *, check: bool = True) -> str:
        """Run an Asterisk CLI command on this instance through its control socket."""
        argv = ["/usr/sbin/asterisk", "-C", str(self.inside / "etc/asterisk.conf"), "-rx", command]
        if self.install.chrooted:
            argv = ["chroot", str(self.install.root), *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if check and result.returncode != 0:
            raise LabError(f"asterisk -rx {command!r} failed: {result.stderr or result.stdout}")
        return result.stdout

    # ---------------------------------------------------------------------------- internals
    def _command(self) -> list[str]:
        conf = str(self.inside / "etc/asterisk.conf")
        asterisk = ["/usr/sbin/asterisk", "-f", "-n", "-C", conf]
        if not self.install.chrooted:
            return asterisk
        # A private mount namespace: the /proc mounted for Asterisk inside the root disappears
        # with it, and nothing is left mounted on the host. `exec` keeps one pid throughout.
        script = 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"'
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", script, "sh", str(self.install.root), str(self.install.root), *asterisk,
        ]  # fmt: skip

    def _render(self, without: Sequence[str] = ()) -> None:
        for sub in ("etc", "log", "log/cdr-csv", "run", "spool", "lib", "cache"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        for log in self.log_files():  # keep one previous run's logs, start this one clean
            if log.exists():
                log.replace(log.with_name(log.name + ".1"))
        source = self.settings.config_dir
        missing = [name for name in _CONF_FILES if not (source / name).is_file()]
        if missing:
            raise LabError(f"{source} lacks {', '.join(missing)}; is config_dir right?")
        rewrites = self._rewrites()
        for name in _CONF_FILES:
            text = render_conf((source / name).read_text(), rewrites.get(name, {}))
            if name == "rtp.conf":
                text += ice_host_candidates(machine_addresses())
            if name == "modules.conf":
                for module in without:
                    text = text.replace(f"load => {module}", f"; left out: {module}")
            (self.directory / "etc" / name).write_text(text)
        for extra in source.glob("*_cti_*.conf"):  # generated include files (admin console)
            (self.directory / "etc" / extra.name).write_text(extra.read_text())
        (self.directory / "etc/asterisk.conf").write_text(self._asterisk_conf())
        if self.install.chrooted:
            # debootstrap copied the host's resolver; PJSIP's DNS client would query it for any
            # name it meets. The lab speaks to loopback only, names included.
            resolv = self.install.root / "etc/resolv.conf"
            resolv.unlink(missing_ok=True)  # it may be a link to a path outside the root
            resolv.write_text("# cti lab: loopback only\nnameserver 127.0.0.1\n")

    def _rewrites(self) -> dict[str, dict[tuple[str, str], str]]:
        s = self.settings
        tls = self.certificate()
        inside = self.inside / "lib" / "tls"  # the same files, as the chrooted Asterisk sees them
        return {
            "manager.conf": {
                ("general", "port"): str(s.ami_port),
                ("general", "bindaddr"): "127.0.0.1",
                ("general", "tlsenable"): "yes",
                ("general", "tlsbindaddr"): f"127.0.0.1:{s.ami_tls_port}",
                ("general", "tlscertfile"): str(inside / tls.cert_file.name),
                ("general", "tlsprivatekey"): str(inside / tls.key_file.name),
                ("cti", "secret"): s.ami_secret.get_secret_value(),
            },
            "pjsip.conf": {
                ("transport-udp", "bind"): f"127.0.0.1:{s.sip_port}",
                ("lab-trunk", "contact"): f"sip:{s.trunk_host}:{s.trunk_port}",
                ("lab-trunk", "match"): s.trunk_host,
                ("lab-standby", "contact"): f"sip:{s.trunk_host}:{s.trunk_port + 1}",
            },
            "rtp.conf": {
                ("general", "rtpstart"): str(s.rtp_start),
                ("general", "rtpend"): str(s.rtp_end),
            },
            "http.conf": {
                ("general", "bindaddr"): "127.0.0.1",
                ("general", "bindport"): str(s.http_port),
            },
        }

    def _asterisk_conf(self) -> str:
        d = self.inside
        return "\n".join(
            [
                "; Written by `cti lab up` for this instance; edit asterisk-config/ instead.",
                "[directories]",
                f"astetcdir => {d}/etc",
                f"astmoddir => {self.install.module_dir}",
                f"astvarlibdir => {d}/lib",
                f"astdbdir => {d}/lib",
                f"astkeydir => {d}/lib",
                "astdatadir => /usr/share/asterisk",
                "astagidir => /usr/share/asterisk/agi-bin",
                f"astspooldir => {d}/spool",
                f"astrundir => {d}/run",
                f"astlogdir => {d}/log",
                f"astcachedir => {d}/cache",
                "astsbindir => /usr/sbin",
                "[options]",
                "verbose = 1",
                "maxfiles = 8192",
                "hideconnect = yes",
                "",
            ]
        )

    def _wait_ready(self, t0: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        s = self.settings
        deadline = t0 + s.boot_timeout_s
        while True:
            if proc is not None and proc.poll() is not None:
                raise LabError(
                    f"Asterisk exited during start-up (code {proc.returncode}); "
                    f"see `cti lab logs` ({self.directory / 'log'})"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(
                    f"Asterisk did not answer on AMI 127.0.0.1:{s.ami_port} within "
                    f"{s.boot_timeout_s:.0f} s; see `cti lab logs`"
                )
            if wait_fully_booted(
                "127.0.0.1",
                s.ami_port,
                s.ami_username,
                s.ami_secret.get_secret_value(),
                timeout_s=min(remaining, 5.0),
            ):
                return
            time.sleep(0.2)

    def _check_ports_free(self) -> None:
        s = self.settings
        probes = [
            (socket.SOCK_STREAM, s.ami_port, "AMI"),
            (socket.SOCK_STREAM, s.ami_tls_port, "AMI_TLS"),
            (socket.SOCK_DGRAM, s.sip_port, "SIP"),
            (socket.SOCK_STREAM, s.http_port, "HTTP"),
        ]
        for kind, port, what in probes:
            with socket.socket(socket.AF_INET, kind) as sock:
                # As Asterisk binds: a connection of a previous run in TIME-WAIT is no conflict.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise LabError(
                        f"{what} port 127.0.0.1:{port} is taken by another program; pick other "
                        f"ports (e.g. CTI_LAB__{what}_PORT=...) or stop that program"
                    ) from exc

    def _owns(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        conf = str(self.inside / "etc/asterisk.conf").encode()
        return conf in cmdline and any(part.endswith(b"asterisk") for part in cmdline)


def render_conf(text: str, rewrites: dict[tuple[str, str], str]) -> str:
    """Return ``text`` with ``key = value`` replaced in every section of the given name.

    Asterisk config files may repeat a section name for several object types (pjsip.conf's
    endpoint, aor and identify of one trunk), so the rewrite applies wherever the key occurs.
    Comments after the value are kept.
    """
    section = ""
    out = []
    for original in text.splitlines(keepends=True):
        line = original
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            section = header.group(1)
        else:
            match = re.match(r"(\s*)([A-Za-z_][\w-]*)(\s*=>?\s*)([^;\n]*?)(\s*(;.*)?)(\n?)$", line)
            if match and (section, match.group(2)) in rewrites:
                value = rewrites[(section, match.group(2))]
                line = f"{match.group(1)}{match.group(2)}{match.group(3)}{value}{match.group(5)}"
                line += match.group(7)
        out.append(line)
    return "".join(out)


def machine_addresses() -> list[str]:
    """Return this machine's IPv4 addresses other than loopback (from ``ip -4 -o addr``)."""
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", out)
    return sorted({a for a in found if not ipaddress.IPv4Address(a).is_loopback})


def ice_host_candidates(addresses: list[str]) -> str:
    """Return rtp.conf lines mapping each of ``addresses`` to 127.0.0.1.

    Asterisk offers the machine's own addresses as ICE host candidates even with RTP bound to
    loopback (pjsip.conf's bind_rtp_to_media_address); a browser on this machine would then
    send media where nothing listens. The lines go under ``[ice_host_candidates]``, which
    rtp.conf ends with (under ``[general]`` Asterisk ignores them without a word).
    """
    lines = [f"{address} => 127.0.0.1" for address in addresses]
    return "".join(f"{line}   ; written by `cti lab up`\n" for line in lines)


def _host_path(root: Path, inside: Path) -> Path:
    return root / inside.relative_to("/")


def _jsonable(settings: LabSettings) -> dict[str, object]:
    data = settings.model_dump(mode="json")
    data.pop("ami_secret", None)
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child (started in this same process)."""
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)
