"""One handle on a running lab Asterisk for tests, transcripts and benchmarks.

:func:`start_lab` brings an instance up (reusing the cached root), and :class:`LabHandle` knows
its ports: where phones register, where SIPp sends and listens, how to log in to AMI.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from cti.config import LabSettings
from cti.lab import LabInstance, ensure_asterisk
from sip_tests.sipp import SipTarget

__all__ = ["TEST_LAB", "LabHandle", "ami_server", "lab_settings_for", "start_lab"]


def lab_settings_for(offset: int = 0) -> LabSettings:
    """The test suite's own lab instance: other ports than a developer's `cti lab up` (dev).

    ``offset`` (a multiple of 100) gives parallel test sessions instances of their own, e.g.
    ``CTI_TEST_LAB_OFFSET=100`` -> instance ``pytest-100``, AMI 25138 (TLS 25139), SIP 25160.
    """
    if offset % 100 or not 0 <= offset <= 2000:
        raise ValueError("the test lab offset is a multiple of 100 from 0 to 2000")
    return LabSettings(
        instance="pytest" if offset == 0 else f"pytest-{offset}",
        ami_port=25038 + offset,
        ami_tls_port=25039 + offset,
        sip_port=25060 + offset,
        trunk_port=25080 + offset,
        http_port=25088 + offset,
        rtp_start=30000 + offset * 10,
        rtp_end=30000 + offset * 10 + 999,
    )


TEST_LAB = lab_settings_for()

DID_SALES = "442079460100"  # queue `sales`, ringall 1001 + 1002
DID_SUPPORT = "442079460200"  # queue `support`, rrmemory 1003-1005


# Every field of LabSettings that names the instance or a port: a child `cti ...` process that
# gets fewer (say without ami_tls_port) sees another configuration and restarts the suite's lab.
_LAB_FIELDS = (
    "instance",
    "ami_port",
    "ami_tls_port",
    "sip_port",
    "trunk_host",
    "trunk_port",
    "rtp_start",
    "rtp_end",
    "http_port",
)


def lab_environment(lab: LabHandle) -> dict[str, str]:
    """The environment that points a child ``cti`` process (``cti demo``) at this lab as is."""
    s = lab.settings
    return {f"CTI_LAB__{name.upper()}": str(getattr(s, name)) for name in _LAB_FIELDS}


def direct_did(extension: str) -> str:
    """The DID that rings agent ``extension`` (10XX) directly."""
    return f"44207946{extension}"


def ami_server(lab: LabHandle) -> dict[str, object]:
    """The lab as a daemon's ``[[servers]]`` entry (CTI_SERVERS), reconnecting fast."""
    s = lab.settings
    return {
        "name": "lab",
        "port": s.ami_port,
        "username": s.ami_username,
        "secret": s.ami_secret.get_secret_value(),
        "reconnect_base_s": 0.2,
        "reconnect_cap_s": 1.0,
    }


@dataclass(frozen=True, slots=True)
class LabHandle:
    settings: LabSettings
    instance: LabInstance
    started_here: bool

    @property
    def sip(self) -> SipTarget:
        s = self.settings
        return SipTarget("127.0.0.1", s.sip_port, s.trunk_host, s.trunk_port)

    @property
    def websocket_url(self) -> str:
        """Where browser phones register: SIP over websocket on Asterisk's HTTP server."""
        return f"ws://127.0.0.1:{self.settings.http_port}/ws"

    @property
    def registrar(self) -> str:
        return f"127.0.0.1:{self.settings.sip_port}"

    @staticmethod
    def password(extension: str) -> str:
        """The lab secret of agent phone ``extension`` (asterisk-config/pjsip.conf)."""
        return f"lab-{extension}"

    def active_channels(self) -> int:
        out = self.instance.cli("core show channels count")
        match = re.search(r"(\d+) active channels?", out)
        return int(match.group(1)) if match else 0

    def wait_idle(self, timeout_s: float = 20.0) -> None:
        """Wait until the lab has no channel left (every call of a test has fully ended)."""
        deadline = time.monotonic() + timeout_s
        while self.active_channels():
            if time.monotonic() > deadline:
                channels = self.instance.cli("core show channels concise")
                raise AssertionError(f"lab still has channels after {timeout_s} s:\n{channels}")
            time.sleep(0.1)

    def ensure_idle(self, timeout_s: float = 30.0) -> None:
        """Start a test on an idle lab: wait for calls to end, then hang up what an earlier
        test left behind (a failed test's call would otherwise fail every test after it), and
        start Asterisk again if an earlier test's module unload took it down."""
        self.instance.start()  # idempotent: returns at once when it runs with this configuration
        try:
            self.wait_idle(timeout_s)
        except AssertionError as exc:
            print(f"lab: hanging up what an earlier test left: {exc}")
            self.hangup_all()
            self.wait_idle(15)
        self.drop_browser_contacts()
        self.unpause_members()

    def unpause_members(self) -> None:
        """Unpause every queue member an earlier test's daemon left paused: a daemon that stops
        leaves its agents as the PBX has them (paused in wrap-up, or for lunch), and a later
        test's queue call would ring nobody. Each daemon learns the change from AMI."""
        paused = re.findall(r"\((\S+)\)[^\n]*\(paused", self.instance.cli("queue show"))
        for interface in sorted(set(paused)):
            self.instance.cli(f"queue unpause member {interface}", check=False)

    def browser_contacts(self) -> list[str]:
        """Asterisk's stored registrations of browser phones (``<ext>-webrtc;@<hash>`` keys)."""
        out = self.instance.cli("database show registrar/contact", check=False)
        return re.findall(r"^/registrar/contact/(\S+-webrtc;@[0-9a-f]+)\s*:", out, re.M)

    def drop_browser_contacts(self) -> None:
        """Forget browser-phone registrations an earlier test's closed browser left behind: the
        queues ring ``PJSIP/<ext>-webrtc`` members too, and a stale one rings (and counts a
        ring-no-answer) in a test that has no browser. No test has a browser open at its start."""
        for key in self.browser_contacts():
            self.instance.cli(f"database del registrar/contact {key}", check=False)

    def wait_bridged(self, endpoint: str, timeout_s: float = 5.0) -> None:
        """Wait until a channel of ``endpoint`` (``PJSIP/1001``) is Up in a bridge.

        Asterisk bridges a call a moment after the phones see it CONFIRMED; a transfer (REFER)
        sent before then is refused (NOTIFY 400: the transferer is in no bridge yet).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.instance.cli("core show channels concise").splitlines():
                fields = line.split("!")  # Channel!Context!Exten!Prio!State!...!BridgeID!Uniqueid
                mine = len(fields) > 12 and fields[0].startswith(endpoint + "-")
                if mine and fields[4] == "Up" and fields[12]:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{endpoint} is not in a bridge after {timeout_s} s")
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop Asterisk and start it afresh, for a test that changed what it runs: after a
        module unload and load, Asterisk 22 keeps no route to browser phones that register
        again over the websocket transport (every later call to them rings nothing)."""
        self.instance.stop()
        self.instance.start()

    def hangup_all(self) -> None:
        """Hang up whatever a failed test left behind."""
        self.instance.cli("channel request hangup all", check=False)


def start_lab(settings: LabSettings = TEST_LAB) -> LabHandle:
    """Bring the lab instance up (idempotent) and return a handle on it."""
    install = ensure_asterisk(settings.cache_dir, mirror=settings.debian_mirror)
    instance = LabInstance(install, settings)
    started, _ = instance.start()
    return LabHandle(settings, instance, started)
