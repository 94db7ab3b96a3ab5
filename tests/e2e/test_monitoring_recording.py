"""Listen / whisper / barge and recording on the lab (issue 19): the real `cti serve`, a SIPp
carrier, pjsua2 phones for alice (1001) and for sam's own phone (1010).

Covered here: a supervisor of another group gets 403 and no channel of theirs appears on the
PBX; the group's supervisor's phone rings and is joined to the call by ChanSpy; an always-recorded
call leaves one file whose length is the talk time, with the agent's pause stored; playback
answers a Range request with 206; another group's supervisor gets 403.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from sip_tests.sipp import SippProcess, inbound_call
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.monitoring_lab import console, events_of, monitor_dir, monitoring_daemon

pytestmark = pytest.mark.e2e

ALICE_NUMBER = "+442079460001"
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("monitoring")) as process:
        yield process


async def test_only_the_groups_supervisor_joins_a_live_call(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, sipp_calls: list[SippProcess]
) -> None:
    got = phones("1001", "1010")
    got["1001"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice:
        call = inbound_call(lab.sip, direct_did("1001"), ALICE_NUMBER, "Alice", hold_s=8)
        sipp_calls.append(call)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001", 10)
        async with console(daemon, "sue") as sue:
            refused = await sue.post("/api/monitor", json={"call_id": pop["call_id"]})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "auth.forbidden"
        channels = lab.instance.cli("core show channels concise")
        assert "PJSIP/1010-" not in channels and "ChanSpy" not in channels

        got["1010"].set_answer_policy(AutoAnswer(0.2))
        async with console(daemon, "sam") as sam:
            joined = await sam.post(
                "/api/monitor", json={"call_id": pop["call_id"], "mode": "listen"}
            )
            assert joined.status_code == 201, joined.text
            await asyncio.to_thread(got["1010"].wait_ringing, 10)
            for _ in range(50):
                channels = lab.instance.cli("core show channels concise")
                if "ChanSpy" in channels:
                    break
                await asyncio.sleep(0.1)
            assert any(
                line.startswith("PJSIP/1010-") and "ChanSpy" in line
                for line in channels.splitlines()
            ), channels
            told = await alice.wait_for(lambda m: m["type"] == "monitoring", within=5)
            assert told["data"]["event"] == "started"
            await asyncio.sleep(1.0)
            switched = await sam.post(
                f"/api/monitor/{joined.json()['id']}/mode", json={"mode": "barge"}
            )
            assert switched.status_code == 200, switched.text
            left = await sam.delete(f"/api/monitor/{joined.json()['id']}")
            assert left.status_code == 200, left.text
            history = await asyncio.to_thread(lambda: events_of(daemon, "monitor."))
            assert history == ["monitor.started", "monitor.mode", "monitor.left"]
        await asyncio.to_thread(call.wait, 30)


async def test_an_always_recorded_call_leaves_its_file_with_the_pause_marked(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, fleet: PhoneFleet
) -> None:
    carrier = fleet.carrier(ALICE_NUMBER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "tell_agent": True, "retention_days": 30},
        )
        assert policy.status_code == 200, policy.text
    async with console(daemon, "sue") as sue:
        refused = await sue.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "never"},
        )
        assert refused.status_code == 403
    got = phones("1001")
    got["1001"].set_answer_policy(AutoAnswer(0.3))
    async with agent(daemon, "alice") as alice, console(daemon, "alice") as desk:
        # The caller sends audio, as real callers do (a pjsua2 carrier line: SIPp sends no RTP,
        # and after a spied call MixMonitor's files of such calls stayed header-only)
        call = await asyncio.to_thread(carrier.call, direct_did("1001"))
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        call_id = pop["call_id"]
        await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001", 10)
        await asyncio.sleep(1.0)
        paused = await desk.post("/api/recordings/pause", json={"call_id": call_id})
        assert paused.status_code == 200, paused.text
        await asyncio.sleep(1.5)
        resumed = await desk.post("/api/recordings/resume", json={"call_id": call_id})
        assert resumed.status_code == 200, resumed.text
        await asyncio.sleep(2.5)
        carrier.hangup(call)
        await asyncio.to_thread(lab.wait_idle, 15)
        await asyncio.sleep(0.5)
        listed = (await desk.get("/api/recordings", params={"call_id": call_id})).json()
    [recording] = listed["recordings"]
    [(start, end)] = recording["pauses"]
    assert 0.5 < start < 2.5 and 1.0 < end - start < 2.5, recording
    path = monitor_dir(lab) / f"{recording['id']}.wav"
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 3.5 < seconds < 6.5, seconds  # the talk time (about 5 s) within a second or so

    async with console(daemon, "alice") as desk:
        part = await desk.get(recording["url"], headers={"range": "bytes=100-199"})
        assert part.status_code == 206, part.text
        assert part.headers["content-range"].startswith("bytes 100-199/")
        assert len(part.content) == 100
    async with console(daemon, "sue") as sue:
        assert (await sue.get(recording["url"])).status_code == 403
    async with console(daemon, "sam") as sam:
        assert (await sam.get(recording["url"])).status_code == 200
    kinds = await asyncio.to_thread(lambda: events_of(daemon, "recording."))
    assert "recording.paused" in kinds and "recording.played" in kinds

    # The call record the CRM got links the recording; the link plays it to alice, not to sue.
    async with console(daemon, "alice") as desk:
        entry = await crm_history_entry(desk, call_id)
        [link] = entry["recordings"]
        assert link == f"{daemon.origin}/api/recordings/{recording['id']}"
        played = await desk.get(link)
        assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
        assert played.content == path.read_bytes()
    async with console(daemon, "sue") as sue:
        assert (await sue.get(link)).status_code == 403


async def crm_history_entry(desk: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    """The built-in CRM's history entry of ``call_id`` once the outbox delivered its record."""
    for _ in range(100):
        reply = await desk.get("/api/crm/history", params={"number": ALICE_NUMBER})
        assert reply.status_code == 200, reply.text
        found = [c for c in reply.json()["calls"] if c["call_id"] == call_id]
        if found:
            return dict(found[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"the CRM never got the record of {call_id}")
