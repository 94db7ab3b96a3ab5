"""End-to-end tests of the pjsua2 agent phones against the lab Asterisk (instance `phones`).

Each test registers real phones on the lab PBX, lets them call one another through the `agents`
dialplan and checks both what the phones saw and, through the Asterisk CLI, what the PBX did.
The phones live in the suite's one PhoneFleet (tests/conftest.py), on this module's own lab.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sip_tests.phone import (
    AnswerPolicy,
    AutoAnswer,
    AutoReject,
    Manual,
    Phone,
    PhoneError,
    PhoneFleet,
)

# An instance of this module's own; parallel sessions shift it like the suite's (conftest.py).
# Its SIP and AMI ports lie below the kernel's ephemeral range (32768 up), where any client
# socket of the suite may hold them when the lab starts (a run found its AMI port so taken).
OFFSET = int(os.environ.get("CTI_TEST_LAB_OFFSET", "0"))
INSTANCE = "phones" if OFFSET == 0 else f"phones-{OFFSET}"
LAB_ENV = {
    "CTI_LAB__INSTANCE": INSTANCE,
    "CTI_LAB__AMI_PORT": str(27038 + OFFSET),
    "CTI_LAB__SIP_PORT": str(27060 + OFFSET),
    "CTI_LAB__TRUNK_PORT": str(27080 + OFFSET),
    "CTI_LAB__RTP_START": str(45000 + OFFSET * 10),
    "CTI_LAB__RTP_END": str(45000 + OFFSET * 10 + 899),
}
REGISTRAR = f"127.0.0.1:{27060 + OFFSET}"
CTI = Path(sys.executable).with_name("cti")
LAB_ROOT = "/var/cache/cti-lab/debian-sid-asterisk"
ASTERISK_CONF = f"/var/lib/cti-lab/{INSTANCE}/etc/asterisk.conf"

# Fields of `core show channels concise` (Asterisk 22), separated by "!".
CHANNEL, STATE, BRIDGE = 0, 4, 12


def cti_lab(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CTI), "lab", command],
        env={**os.environ, **LAB_ENV},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[str]:
    """Start the `phones` lab instance (once per session); stop it only if this started it.

    Here it stands in for tests/conftest.py's `lab`, so that the conftest's session fleet does
    not bring up the suite's shared instance when only this module runs.
    """
    was_running = ": running" in cti_lab("status").stdout
    up = cti_lab("up")
    if up.returncode != 0:
        pytest.fail(f"cti lab up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
    # A run that crashed left its phones registered for up to 2 minutes, and Dial(PJSIP/1002)
    # rings only one contact of the AOR, maybe the dead one. Contacts live in astdb.
    asterisk("database deltree registrar/contact")
    yield REGISTRAR
    if not was_running:
        cti_lab("down")


@pytest.fixture
def fleet(fleet: PhoneFleet, lab: str) -> Iterator[PhoneFleet]:
    """Lend the process's one fleet (tests/conftest.py) to a test; remove its phones after it.

    pjsua2 allows one Endpoint per process, so this module cannot start a fleet of its own
    while the suite's session fleet runs.
    """
    wait_channels(lambda found: not found, "no channels")
    started = time.monotonic()
    yield fleet
    print("\n".join(str(e) for e in fleet.events() if e.at >= started))  # shown on failure
    for phone in fleet.phones:
        if phone.registrar == REGISTRAR:
            fleet.remove(phone)


def register(
    fleet: PhoneFleet, extension: str, answer: AnswerPolicy | None = None, password: str = ""
) -> Phone:
    """Start registering `extension` on this module's lab, taking it from another lab's phone."""
    for phone in fleet.phones:
        if phone.extension == extension:  # the conftest's phone: it re-creates it on demand
            fleet.remove(phone)
    return fleet.phone(extension, password or f"lab-{extension}", REGISTRAR, answer=answer)


def registered(fleet: PhoneFleet, extension: str, answer: AnswerPolicy | None = None) -> Phone:
    phone = register(fleet, extension, answer)
    phone.wait_registered(5)
    return phone


def asterisk(command: str) -> str:
    result = subprocess.run(
        ["chroot", LAB_ROOT, "asterisk", "-C", ASTERISK_CONF, "-rx", command],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout


def channels() -> list[list[str]]:
    lines = asterisk("core show channels concise").splitlines()
    return [line.split("!") for line in lines if line.count("!") >= BRIDGE]


def wait_channels(
    ok: Callable[[list[list[str]]], bool], what: str, timeout: float = 5.0
) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while not ok(found := channels()):
        if time.monotonic() > deadline:
            pytest.fail(f"Asterisk: expected {what} within {timeout} s, has {found}")
        time.sleep(0.05)
    return found


def wait_bridged(*calls: tuple[str, str]) -> list[list[str]]:
    """Wait until the PBX bridges exactly these pairs of extensions, every channel Up.

    Asterisk bridges the two channels of a call a moment after the phones see CONFIRMED; a REFER
    that arrives before then fails with NOTIFY 400 (the transferer is in no bridge yet).
    """
    wanted = sorted(tuple(sorted(f"PJSIP/{ext}" for ext in call)) for call in calls)

    def ok(found: list[list[str]]) -> bool:
        bridges: dict[str, list[str]] = {}
        for channel in found:
            bridges.setdefault(channel[BRIDGE], []).append(channel[CHANNEL].rsplit("-", 1)[0])
        pairs = sorted(tuple(sorted(names)) for names in bridges.values())
        up = all(channel[STATE] == "Up" for channel in found)
        return up and "" not in bridges and pairs == wanted

    return wait_channels(ok, f"bridged calls {wanted}")


@pytest.mark.e2e
def test_a_call_rings_is_answered_and_hung_up(fleet: PhoneFleet) -> None:
    alice = registered(fleet, "1001")
    bob = registered(fleet, "1002", answer=AutoAnswer(0.3))

    out = alice.call("1002")
    ringing = bob.wait_ringing(5)
    assert out.placed_at < ringing.invite_at < out.placed_at + 1.0
    assert (ringing.caller_name, ringing.caller_number) == ("Agent 1001", "1001")
    assert ringing.header("call-id") == ringing.sip_call_id != ""
    assert "1002" in (ringing.header("To") or "")

    alice.wait_state(out, "CONFIRMED", 5)
    answered = bob.wait_state(ringing, "CONFIRMED", 5)
    assert answered.at - ringing.invite_at >= 0.3
    assert [c.state for c in out.timeline] == ["CALLING", "EARLY", "CONNECTING", "CONFIRMED"]
    assert [c.state for c in ringing.timeline] == ["INCOMING", "EARLY", "CONNECTING", "CONFIRMED"]
    assert out.media == ringing.media == "ACTIVE"
    wait_bridged(("1001", "1002"))

    alice.hangup(out)
    alice.wait_state(out, "DISCONNECTED", 5)
    bob.wait_state(ringing, "DISCONNECTED", 5)
    wait_channels(lambda found: not found, "no channels")

    bob.reset()  # what the conftest does to a phone reused by the next test
    assert (bob.calls, bob.events) == ((), ())


@pytest.mark.e2e
def test_hold_and_unhold_renegotiate_the_audio(fleet: PhoneFleet) -> None:
    alice = registered(fleet, "1001")
    bob = registered(fleet, "1002", answer=AutoAnswer(0))
    out = alice.call("1002")
    with_alice = bob.wait_ringing(5)
    bob.wait_state(with_alice, "CONFIRMED", 5)
    alice.wait_state(out, "CONFIRMED", 5)  # her 200 OK comes after his answer, through Asterisk

    bob.hold(with_alice)
    bob.wait_media(with_alice, "LOCAL_HOLD", 5)
    bob.unhold(with_alice)
    bob.wait_media(with_alice, "ACTIVE", 5)
    assert out.state == with_alice.state == "CONFIRMED"
    bob.hangup_all()
    alice.wait_state(out, "DISCONNECTED", 5)


@pytest.mark.e2e
@pytest.mark.parametrize("policy", ["auto", "manual"])
def test_a_busy_phone_rejects_with_486(fleet: PhoneFleet, policy: str) -> None:
    alice = registered(fleet, "1001")
    bob = registered(fleet, "1002", answer=AutoReject(486) if policy == "auto" else Manual())

    out = alice.call("1002")
    ringing = bob.wait_ringing(5)
    if policy == "manual":
        bob.reject(ringing, 486)

    with pytest.raises(PhoneError, match=r"1001: call #\d+ .* ended before CONFIRMED"):
        alice.wait_state(out, "CONFIRMED", 5)
    ended = alice.wait_state(out, "DISCONNECTED", 5)
    assert (ended.status_code, ended.reason) == (486, "Busy Here")
    assert bob.wait_state(ringing, "DISCONNECTED", 5).status_code == 486
    assert ringing.reached("CONFIRMED") is None


@pytest.mark.e2e
def test_blind_transfer_connects_the_caller_to_the_target(fleet: PhoneFleet) -> None:
    alice = registered(fleet, "1001")
    bob = registered(fleet, "1002", answer=AutoAnswer(0.1))
    carol = registered(fleet, "1003")
    out = alice.call("1002")
    with_alice = bob.wait_ringing(5)
    bob.wait_state(with_alice, "CONFIRMED", 5)
    alice.wait_state(out, "CONFIRMED", 5)
    wait_bridged(("1001", "1002"))

    bob.blind_transfer(with_alice, "1003")
    to_carol = carol.wait_ringing(5)
    assert to_carol.caller_number == "1001"  # Asterisk presents the transferee
    carol.answer(to_carol)
    carol.wait_state(to_carol, "CONFIRMED", 5)
    assert bob.wait_transfer(with_alice, 5).status_code == 200
    bob.wait_state(with_alice, "DISCONNECTED", 5)

    wait_bridged(("1001", "1003"))
    assert out.state == "CONFIRMED"  # alice's own dialog went on, now to carol

    alice.hangup(out)
    carol.wait_state(to_carol, "DISCONNECTED", 5)


@pytest.mark.e2e
def test_attended_transfer_connects_the_caller_to_the_consulted_agent(
    fleet: PhoneFleet,
) -> None:
    alice = registered(fleet, "1001")
    bob = registered(fleet, "1002", answer=AutoAnswer(0.1))
    carol = registered(fleet, "1003", answer=AutoAnswer(0.1))
    out = alice.call("1002")
    with_alice = bob.wait_ringing(5)
    bob.wait_state(with_alice, "CONFIRMED", 5)
    alice.wait_state(out, "CONFIRMED", 5)

    bob.hold(with_alice)
    bob.wait_media(with_alice, "LOCAL_HOLD", 5)
    consult = bob.call("1003")
    with_bob = carol.wait_ringing(5)
    bob.wait_state(consult, "CONFIRMED", 5)
    carol.wait_state(with_bob, "CONFIRMED", 5)
    wait_bridged(("1001", "1002"), ("1002", "1003"))

    bob.attended_transfer(with_alice, consult)
    assert bob.wait_transfer(with_alice, 5).status_code == 200
    bob.wait_state(with_alice, "DISCONNECTED", 5)
    bob.wait_state(consult, "DISCONNECTED", 5)

    wait_bridged(("1001", "1003"))
    assert (out.state, with_bob.state) == ("CONFIRMED", "CONFIRMED")

    carol.hangup(with_bob)
    alice.wait_state(out, "DISCONNECTED", 5)


@pytest.mark.e2e
def test_back_to_back_short_calls_stay_within_pjsua_limits(fleet: PhoneFleet) -> None:
    """Faster churn than pjmedia recycles RTP sockets (64, after 500 ms) would abort pjlib."""
    started = time.monotonic()
    alice = registered(fleet, "1001")
    bob = registered(fleet, "1002", answer=AutoAnswer(0))
    for _ in range(40):
        out = alice.call("1002")
        alice.wait_state(out, "CONFIRMED", 5)
        alice.hangup(out)
        alice.wait_state(out, "DISCONNECTED", 5)
    assert len(bob.calls) == 40
    for call in bob.calls:
        bob.wait_state(call, "DISCONNECTED", 5)
    assert not [e for e in fleet.events() if e.kind == "error" and e.at >= started]


@pytest.mark.e2e
def test_waits_fail_fast_and_name_the_phone(fleet: PhoneFleet) -> None:
    alice = registered(fleet, "1001")
    started = time.monotonic()
    with pytest.raises(PhoneError, match=r"^1001: expected a call to ring within 0.2 s"):
        alice.wait_ringing(0.2)
    assert time.monotonic() - started < 1.0

    intruder = register(fleet, "1004", password="not-the-password")
    with pytest.raises(PhoneError, match=r"^1004: registration refused: 401"):
        intruder.wait_registered(5)

    with pytest.raises(PhoneError, match="one Endpoint"):
        PhoneFleet().start()
