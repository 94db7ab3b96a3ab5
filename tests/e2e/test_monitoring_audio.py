"""Who hears whom on the lab (issue 19): listen, whisper and barge proven with tones, and a
recording's paused span proven silent.

Every party has its own tone: the caller (a pjsua2 carrier line on the trunk's address) 600 Hz,
alice's phone (1001) 1000 Hz, sam's phone (1010, the supervisor) 1500 Hz. Each phone records
what it receives, and a Goertzel detector (sip_tests.tones) measures each tone in each recording:
- listen: sam hears the caller and alice; neither hears sam;
- whisper: alice hears sam, the caller does not;
- barge: both do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneCall, PhoneFleet
from sip_tests.tones import read_wav, rms, tone_levels
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.monitoring_lab import console, monitor_dir, monitoring_daemon

pytestmark = pytest.mark.e2e

CALLER = "+442079460001"
CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 600, 1000, 1500
TONES = (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)
HEARD = 4000.0  # amplitude (of 32767) of a tone that arrives: measured 12000-12800 on the lab
SILENT = 400.0  # and of one that does not: measured under 50 (a party's own tone's echo: 40)
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("monitoring-audio")) as process:
        yield process


@pytest.fixture
def carrier(lab: LabHandle, fleet: PhoneFleet) -> Phone:
    """The caller: a pjsua2 line the lab's trunk identifies as its carrier (by address)."""
    line = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    line.reset()
    return line


def _answered(phone: Phone, call: PhoneCall, hz: int) -> None:
    phone.wait_state(call, "CONFIRMED", 10)
    phone.wait_media(call, "ACTIVE", 5)
    phone.play_tone(call, hz)


async def _listen_for(
    legs: dict[str, tuple[Phone, PhoneCall]], directory: Path, name: str, seconds: float = 2.0
) -> dict[str, dict[float, float]]:
    """Record what each party receives for ``seconds``; the level of every tone in each."""
    paths = {who: directory / f"{name}-{who}.wav" for who in legs}
    for who, (phone, call) in legs.items():
        await asyncio.to_thread(phone.start_recording, call, paths[who])
    await asyncio.sleep(seconds)
    for phone, call in legs.values():
        await asyncio.to_thread(phone.stop_recording, call)
    levels = {who: tone_levels(read_wav(path), TONES, 0.3) for who, path in paths.items()}
    print(name, levels)
    return levels


async def test_listen_whisper_and_barge_reach_whom_they_should(
    lab: LabHandle, phones: Phones, carrier: Phone, daemon: DaemonProcess, tmp_path: Path
) -> None:
    got = phones("1001", "1010")
    alice_phone, sam_phone = got["1001"], got["1010"]
    alice_phone.set_answer_policy(AutoAnswer(0.3))
    sam_phone.set_answer_policy(AutoAnswer(0.2))
    async with agent(daemon, "alice") as alice, console(daemon, "sam") as sam:
        caller = await asyncio.to_thread(carrier.call, direct_did("1001"))
        ringing = await asyncio.to_thread(alice_phone.wait_ringing, 10)
        await asyncio.to_thread(_answered, carrier, caller, CALLER_HZ)
        await asyncio.to_thread(_answered, alice_phone, ringing, AGENT_HZ)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001", 10)

        joined = await sam.post("/api/monitor", json={"call_id": pop["call_id"]})
        assert joined.status_code == 201, joined.text
        spy = await asyncio.to_thread(sam_phone.wait_ringing, 10)
        await asyncio.to_thread(_answered, sam_phone, spy, SUPERVISOR_HZ)
        await asyncio.sleep(1.0)  # ChanSpy attaches its audiohooks as the phone answers
        legs = {
            "caller": (carrier, caller),
            "agent": (alice_phone, ringing),
            "supervisor": (sam_phone, spy),
        }
        heard = {"listen": await _listen_for(legs, tmp_path, "listen")}
        for mode in ("whisper", "barge"):
            switched = await sam.post(
                f"/api/monitor/{joined.json()['id']}/mode", json={"mode": mode}
            )
            assert switched.status_code == 200, switched.text
            await asyncio.sleep(0.8)
            heard[mode] = await _listen_for(legs, tmp_path, mode)
        left = await sam.delete(f"/api/monitor/{joined.json()['id']}")
        assert left.status_code == 200, left.text
        await asyncio.to_thread(sam_phone.wait_state, spy, "DISCONNECTED", 5)
        carrier.hangup(caller)

    listen, whisper, barge = heard["listen"], heard["whisper"], heard["barge"]
    # The call itself: caller and agent hear each other in every mode.
    for levels in heard.values():
        assert levels["caller"][AGENT_HZ] > HEARD and levels["agent"][CALLER_HZ] > HEARD, levels
    # Listen: the supervisor hears both parties; nobody hears the supervisor.
    assert listen["supervisor"][CALLER_HZ] > HEARD, listen
    assert listen["supervisor"][AGENT_HZ] > HEARD, listen
    assert listen["caller"][SUPERVISOR_HZ] < SILENT, listen
    assert listen["agent"][SUPERVISOR_HZ] < SILENT, listen
    # Whisper: only the agent hears the supervisor.
    assert whisper["agent"][SUPERVISOR_HZ] > HEARD, whisper
    assert whisper["caller"][SUPERVISOR_HZ] < SILENT, whisper
    assert whisper["supervisor"][CALLER_HZ] > HEARD, whisper
    # Barge: both parties hear the supervisor.
    assert barge["agent"][SUPERVISOR_HZ] > HEARD, barge
    assert barge["caller"][SUPERVISOR_HZ] > HEARD, barge


async def test_a_recordings_paused_span_is_silent(
    lab: LabHandle, phones: Phones, carrier: Phone, daemon: DaemonProcess
) -> None:
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "tell_agent": True, "retention_days": 30},
        )
        assert policy.status_code == 200, policy.text
    alice_phone = phones("1001")["1001"]
    alice_phone.set_answer_policy(AutoAnswer(0.3))
    try:
        async with agent(daemon, "alice") as alice, console(daemon, "alice") as desk:
            caller = await asyncio.to_thread(carrier.call, direct_did("1001"))
            ringing = await asyncio.to_thread(alice_phone.wait_ringing, 10)
            await asyncio.to_thread(_answered, carrier, caller, CALLER_HZ)
            await asyncio.to_thread(_answered, alice_phone, ringing, AGENT_HZ)
            call_id = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"][
                "call_id"
            ]
            await asyncio.sleep(2.0)
            paused = await desk.post("/api/recordings/pause", json={"call_id": call_id})
            assert paused.status_code == 200, paused.text
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
    [(start, end)] = recording["pauses"]
    audio = read_wav(monitor_dir(lab) / f"{recording['id']}.wav")
    before = tone_levels(audio, TONES, 0.5, start - 0.3)
    during = audio.window(start + 0.3, end - 0.3)
    after = tone_levels(audio, TONES, end + 0.3, audio.seconds - 0.3)
    print("recording", audio.seconds, (start, end), before, rms(during), after)
    assert 5.0 < audio.seconds < 7.5, audio.seconds  # the talk time, about 6 s
    for levels in (before, after):  # both parties, in one file
        assert levels[CALLER_HZ] > HEARD and levels[AGENT_HZ] > HEARD, levels
    assert rms(during) < 20, rms(during)  # the pause: silence
