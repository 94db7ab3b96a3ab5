"""`cti lab` as a PBX admin or newcomer uses it: up, status, down, twice; and its failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sip_tests.lab import LabHandle

pytestmark = pytest.mark.e2e

# An instance of its own, so these start/stop cycles never touch the session's lab; parallel
# sessions shift it like the suite's (conftest.py).
OFFSET = int(os.environ.get("CTI_TEST_LAB_OFFSET", "0"))
CLI_LAB = {
    "CTI_LAB__INSTANCE": "clitest" if OFFSET == 0 else f"clitest-{OFFSET}",
    "CTI_LAB__AMI_PORT": str(26038 + OFFSET),
    "CTI_LAB__SIP_PORT": str(26060 + OFFSET),
    "CTI_LAB__TRUNK_PORT": str(26080 + OFFSET),
    "CTI_LAB__RTP_START": str(40000 + OFFSET * 10),
    "CTI_LAB__RTP_END": str(40000 + OFFSET * 10 + 99),
}
CTI = [sys.executable, "-m", "cti.cli"]


def cti(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **CLI_LAB, **(env or {})}
    return subprocess.run(
        [*CTI, *args], capture_output=True, text=True, env=full_env, timeout=300, check=False
    )


def test_up_status_down_twice_reusing_the_cached_root(lab: LabHandle) -> None:
    # The session fixture already gave this machine its Asterisk root; `up` must reuse it.
    for _ in range(2):
        up = cti("lab", "up")
        assert up.returncode == 0, up.stderr
        assert re.search(r"Asterisk 22\.\d+\.\d+ \(\w+, reused in [\d.]+ s\)", up.stdout), up.stdout
        assert re.search(r"fully booted after [\d.]+ s", up.stdout)
        ami, sip = CLI_LAB["CTI_LAB__AMI_PORT"], CLI_LAB["CTI_LAB__SIP_PORT"]
        assert f"AMI 127.0.0.1:{ami}" in up.stdout and f"SIP 127.0.0.1:{sip}" in up.stdout

        again = cti("lab", "up")
        assert again.returncode == 0 and "already running" in again.stdout

        status = cti("lab", "status")
        assert status.returncode == 0 and "running (pid" in status.stdout

        down = cti("lab", "down")
        assert down.returncode == 0 and "stopped" in down.stdout
        stopped = cti("lab", "status")
        assert stopped.returncode == 3 and "stopped" in stopped.stdout
    assert lab.active_channels() == 0  # the session's own lab was not touched
    assert lab.instance.pid() is not None


def test_down_stops_only_its_own_instance(lab: LabHandle) -> None:
    assert cti("lab", "down").returncode == 0  # not running: says so, touches nothing
    assert lab.instance.pid() is not None


def test_up_without_root_says_what_is_missing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    tmp_path.chmod(0o755)
    # Import everything as root (the interpreter lives under /root), then drop to nobody and
    # run the CLI for real: the check under test is the process's own effective uid.
    script = (
        "import os, sys, click, cti.cli, cti.lab, cti.lab.provision, cti.lab.instance;"
        "os.setgid(65534); os.setuid(65534);"
        "sys.argv = ['cti', 'lab', 'up'];"
        "cti.cli.main()"
    )
    env = {**os.environ, **CLI_LAB, "CTI_LAB__CACHE_DIR": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "needs root" in result.stderr and "sudo cti lab up" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_without_the_package_archive_says_what_is_missing(tmp_path: Path) -> None:
    # Nothing listens on 127.0.0.1:9: debootstrap cannot reach "the archive".
    result = cti(
        "lab",
        "up",
        env={
            "CTI_LAB__CACHE_DIR": str(tmp_path),
            "CTI_LAB__DEBIAN_MIRROR": "http://127.0.0.1:9/debian",
        },
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "needs network access to the Debian archive" in result.stderr
    assert "debootstrap.log" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "debian-sid-asterisk").exists()  # no half-built root left to reuse
