"""An on-demand recording holds nothing before the agent starts it (issue 19), on the lab.

Sales records on demand. alice's phone answers the moment it rings and plays 1000 Hz; the
caller (a pjsua2 carrier line) plays 600 Hz. The cti-record gosub starts MixMonitor held (`b`:
nothing saved before the bridge) and lets the leg be bridged only once the daemon has muted the
recording, so no audio reaches the file before alice resumes it. Checked in the file with the
Goertzel detector (sip_tests.tones): every 100 ms before the resume is digital silence, both
tones are there after it. Before, MixMonitor ran unheld until the AMI mute landed: with the
daemon frozen (second test) such a file held the whole call (RMS 12334); now it holds nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator

import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from sip_tests.tones import read_wav, rms, tone_levels
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.monitoring_lab import console, monitor_dir, monitoring_daemon

pytestmark = pytest.mark.e2e

CALLER = "+442079460001"
CALLER_HZ, AGENT_HZ = 600, 1000
HEARD = 4000.0  # amplitude (of 32767) of a tone that arrives: 12000-12800 on the lab
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("recording-demand")) as process:
        yield process


async def test_nothing_before_the_agent_starts_an_on_demand_recording_is_in_its_file(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, fleet: PhoneFleet
) -> None:
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy", params={"group": "Sales"}, json={"policy": "demand"}
        )
        assert policy.status_code == 200, policy.text
    alice_phone = phones("1001")["1001"]
    alice_phone.set_answer_policy(AutoAnswer(0.0))
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()

    def play(phone: Phone, call: object, hz: int) -> None:
        phone.wait_state(call, "CONFIRMED", 10)  # type: ignore[arg-type]
        phone.wait_media(call, "ACTIVE", 5)  # type: ignore[arg-type]
        phone.play_tone(call, hz)  # type: ignore[arg-type]

    try:
        async with agent(daemon, "alice") as alice, console(daemon, "alice") as desk:
            caller = await asyncio.to_thread(carrier.call, direct_did("1001"))
            ringing = await asyncio.to_thread(alice_phone.wait_ringing, 10)
            await asyncio.gather(
                asyncio.to_thread(play, carrier, caller, CALLER_HZ),
                asyncio.to_thread(play, alice_phone, ringing, AGENT_HZ),
            )
            told = await alice.wait_for(lambda m: m["type"] == "recording", within=10)
            assert told["data"]["paused"] is True and told["data"]["policy"] == "demand"
            call_id = told["data"]["call_id"]
            await asyncio.sleep(2.0)
            resumed = await desk.post("/api/recordings/resume", json={"call_id": call_id})
            assert resumed.status_code == 200, resumed.text
            await asyncio.sleep(2.0)
            carrier.hangup(caller)
            await asyncio.to_thread(lab.wait_idle, 15)
            await asyncio.sleep(0.5)
            listed = (await desk.get("/api/recordings", params={"call_id": call_id})).json()
    finally:
        async with console(daemon, "sam") as sam:
            await sam.put(
                "/api/supervisor/recording-policy",
                params={"group": "Sales"},
                json={"policy": "never"},
            )
    [recording] = listed["recordings"]
    [(start, resumed_at)] = recording["pauses"]
    assert start == 0.0 and 1.5 < resumed_at < 3.5, recording
    audio = read_wav(monitor_dir(lab) / f"{recording['id']}.wav")
    held = [rms(audio.window(t / 10, t / 10 + 0.1)) for t in range(int((resumed_at - 0.2) * 10))]
    after = tone_levels(audio, (CALLER_HZ, AGENT_HZ), resumed_at + 0.3, audio.seconds - 0.3)
    print(f"file {audio.seconds:.2f} s, resumed at {resumed_at} s; held rms max {max(held)}; "
          f"after {after}")  # fmt: skip
    assert held and max(held) < 20, held  # nothing before the resume, not even the first ms
    assert after[CALLER_HZ] > HEARD and after[AGENT_HZ] > HEARD, after


async def test_a_demand_recording_the_daemon_never_holds_saves_no_audio(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, fleet: PhoneFleet
) -> None:
    """The daemon frozen (SIGSTOP) once the policy is published: the gosub waits 2 s for the
    hold, then stops MixMonitor. Whatever file is left holds no audio of the call, where an
    unheld MixMonitor (the gosub without its wait) records the whole call."""
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy", params={"group": "Sales"}, json={"policy": "demand"}
        )
        assert policy.status_code == 200, policy.text
    await asyncio.sleep(0.5)  # the globals are set over AMI right after the reply
    alice_phone = phones("1001")["1001"]
    alice_phone.set_answer_policy(AutoAnswer(0.0))
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    before = set(monitor_dir(lab).iterdir())
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        caller = await asyncio.to_thread(carrier.call, direct_did("1001"))
        ringing = await asyncio.to_thread(alice_phone.wait_ringing, 10)
        await asyncio.to_thread(alice_phone.wait_state, ringing, "CONFIRMED", 10)
        await asyncio.to_thread(carrier.wait_state, caller, "CONFIRMED", 10)
        carrier.play_tone(caller, CALLER_HZ)
        alice_phone.play_tone(ringing, AGENT_HZ)
        await asyncio.sleep(3.0)
        carrier.hangup(caller)
        await asyncio.to_thread(lab.wait_idle, 15)
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
        async with console(daemon, "sam") as sam:
            await sam.put(
                "/api/supervisor/recording-policy",
                params={"group": "Sales"},
                json={"policy": "never"},
            )
    made = sorted(set(monitor_dir(lab).iterdir()) - before)
    levels = [max(rms(read_wav(p).samples), 0.0) if p.stat().st_size > 44 else 0.0 for p in made]
    print(f"files made with the daemon frozen: {[p.name for p in made]}, rms {levels}")
    assert all(level < 20 for level in levels), levels
