"""Give this machine an Asterisk 22 for the lab: the distribution's package, or a cached sid root.

Debian 12 ships no Asterisk; Debian unstable ships Asterisk 22 LTS. Where the distribution has no
suitable package, a minimal Debian-unstable root with Asterisk is built once with debootstrap
(about a minute and 500 MB) into the cache directory, outside the repository, and reused by every
later ``cti lab up`` on the same machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cti.errors import LabError

__all__ = ["AsteriskInstall", "ensure_asterisk", "find_asterisk"]

_Log = Callable[[str], None]

ROOT_NAME = "debian-sid-asterisk"
MARKER = ".cti-lab-root.json"
REQUIRED_MAJOR = 22
_MODULE_DIRS = ("usr/lib/x86_64-linux-gnu/asterisk/modules", "usr/lib/asterisk/modules")


@dataclass(frozen=True, slots=True)
class AsteriskInstall:
    """Where an Asterisk lives: ``root`` is ``/`` for a host package, else a chroot directory."""

    root: Path
    version: str
    module_dir: str  # as seen from inside ``root``
    source: str  # "host", "package" or "debootstrap"
    reused: bool
    seconds: float

    @property
    def chrooted(self) -> bool:
        return self.root != Path("/")


def ensure_asterisk(
    cache_dir: Path, *, mirror: str | None = None, log: _Log | None = None
) -> AsteriskInstall:
    """Return an Asterisk 22 install, building or installing one only if none is there yet."""
    say = log or _silent
    started = time.monotonic()
    found = find_asterisk(cache_dir)
    if found is not None:
        return found
    _require_root()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Several `cti lab up` at once (parallel test sessions) build once: the others wait here.
    with (cache_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_asterisk(cache_dir)
        if found is not None:
            return found
        return _provide(cache_dir, mirror, say, started)


def _provide(cache_dir: Path, mirror: str | None, say: _Log, started: float) -> AsteriskInstall:
    cached = cache_dir / ROOT_NAME
    candidate = _apt_candidate("asterisk")
    if candidate and _major(candidate) == REQUIRED_MAJOR:
        say(f"installing the distribution's asterisk {candidate} with apt-get")
        _run(["apt-get", "install", "-y", "-q", "asterisk"], "apt-get install asterisk")
        installed = _version(Path("/")) or candidate
        return _install(Path("/"), installed, "package", False, started)

    say(
        f"this distribution has no Asterisk {REQUIRED_MAJOR} package; building a Debian-unstable "
        f"root with debootstrap into {cached} (once; about a minute)"
    )
    _build_root(cached, mirror or _debian_mirror(), say)
    built = _cached_version(cached)
    if not built:
        raise LabError(f"the root built in {cached} holds no working asterisk binary")
    return _install(cached, built, "debootstrap", False, started)


def _silent(message: str) -> None:
    del message


def find_asterisk(cache_dir: Path) -> AsteriskInstall | None:
    """Return the Asterisk 22 this machine already has (host package or cached root), or None."""
    started = time.monotonic()
    host_version = _version(Path("/"))
    if host_version and _major(host_version) == REQUIRED_MAJOR:
        return _install(Path("/"), host_version, "host", True, started)
    cached = cache_dir / ROOT_NAME
    version = _cached_version(cached)
    if version:
        return _install(cached, version, "debootstrap", True, started)
    return None


def _install(root: Path, version: str, source: str, reused: bool, t0: float) -> AsteriskInstall:
    module_dir = next((d for d in _MODULE_DIRS if (root / d).is_dir()), None)
    if module_dir is None:
        raise LabError(f"no Asterisk module directory under {root}; remove it and run again")
    return AsteriskInstall(
        root, version, "/" + module_dir, source, reused, round(time.monotonic() - t0, 2)
    )


def _version(root: Path) -> str | None:
    binary = root / "usr/sbin/asterisk"
    if not binary.exists():
        return None
    cmd = ["/usr/sbin/asterisk", "-V"]
    if root != Path("/"):
        cmd = ["chroot", str(root), *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Asterisk (\d+\.\d+\.\d+)", out.stdout)
    return match.group(1) if match else None


def _cached_version(root: Path) -> str | None:
    marker = root / MARKER
    try:
        if not marker.is_file():
            return None  # absent, or a build that did not finish
        recorded = json.loads(marker.read_text())["version"]
    except (ValueError, KeyError, OSError):
        return None
    return str(recorded) if _version(root) == recorded else None


def _major(version: str) -> int:
    return int(version.split(".", 1)[0].rsplit(":", maxsplit=1)[-1])


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "setting up the lab Asterisk needs root (it installs packages or builds a chroot); "
            "run `sudo cti lab up` once, or as root"
        )


def _apt_candidate(package: str) -> str | None:
    if not shutil.which("apt-cache"):
        return None
    out = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    )
    match = re.search(r"Candidate:\s*(?:\d+:)?(\d+\.\d+[^\s]*)", out.stdout)
    return match.group(1) if match else None


def _build_root(target: Path, mirror: str | None, say: _Log) -> None:
    if not shutil.which("debootstrap"):
        say("installing debootstrap with apt-get")
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], "apt-get install debootstrap")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(target.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    cmd = ["debootstrap", "--variant=minbase", "--include=asterisk", "sid", str(building)]
    if mirror:
        cmd.append(mirror)
    t0 = time.monotonic()
    log_file = target.parent / "debootstrap.log"
    with log_file.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-8:])
        raise LabError(
            "debootstrap could not build the Asterisk root. It needs network access to the "
            f"Debian archive{f' ({mirror})' if mirror else ''} and about 600 MB free in "
            f"{target.parent}. Full log: {log_file}. Last lines:\n{tail}"
        )
    version = _version(building)
    if not version:
        raise LabError(f"debootstrap finished but {building}/usr/sbin/asterisk does not run")
    (building / MARKER).write_text(
        json.dumps({"version": version, "built_seconds": round(time.monotonic() - t0, 1)})
    )
    if target.exists():
        shutil.rmtree(target)
    building.rename(target)
    say(f"built the Asterisk {version} root in {time.monotonic() - t0:.0f} s")


def _debian_mirror() -> str | None:
    """Return the Debian archive this machine's apt already uses, so debootstrap uses it too."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("#") or "security" in line:
                continue
            match = re.match(r"(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?(\s|$)", line)
            if match:
                return match.group(1)
    return None


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-6:])
        raise LabError(
            f"{what} failed (exit {result.returncode}). It needs root and network access to the "
            f"package archive; try `apt-get update` first. Output:\n{tail}"
        )
