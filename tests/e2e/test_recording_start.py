"""A recording starts with no race on the lab (issue 19): the dialplan decides and names it.

alice's phone answers the moment it rings (auto-answer after 0 s), on a Sales queue call
(ringall) whose group records always. The cti-record gosub reads the policy from the globals the
daemon published before the call and names the file from the answering leg; the daemon learns
it from that leg's MixMonitorStart. Before, the daemon named the file with AMI Setvar on the
ringing leg, which a phone answering at once could beat (and the queue's gosub never ran).
"""

from __future__ import annotations

import asyncio
import re
import wave
from collections.abc import Callable, Iterator

import pytest

from sip_tests.lab import DID_SALES, LabHandle
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.monitoring_lab import console, monitor_dir, monitoring_daemon

pytestmark = pytest.mark.e2e

CALLER = "+442079460001"
Phones = Callable[..., dict[str, Phone]]


def global_value(lab: LabHandle, name: str) -> str | None:
    """A dialplan global of the lab Asterisk (``dialplan show globals``), None if unset."""
    for line in lab.instance.cli("dialplan show globals").splitlines():
        key, _, value = line.strip().partition("=")
        if key == name:
            return value
    return None


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("recording-start")) as process:
        yield process


async def test_an_agent_answering_at_once_on_a_queue_call_is_recorded(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, fleet: PhoneFleet
) -> None:
    async with console(daemon, "sam") as sam:
        policy = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "tell_agent": True, "retention_days": 30},
        )
        assert policy.status_code == 200, policy.text

    # The published policy is a global before any call (what the gosub reads), stamped with
    # the generation the daemon set as CTI_RECORD_GEN (values of other generations are ignored).
    def published() -> bool:
        generation = global_value(lab, "CTI_RECORD_GEN")
        sales = global_value(lab, "CTI_RECORD_Q_sales")
        return bool(generation) and sales == f"always@{generation}"

    for _ in range(50):
        if published():
            break
        await asyncio.sleep(0.1)
    assert published(), lab.instance.cli("dialplan show globals")
    got = phones("1001")
    got["1001"].set_answer_policy(AutoAnswer(0.0))
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    async with agent(daemon, "alice") as alice, console(daemon, "alice") as desk:
        call = await asyncio.to_thread(carrier.call, DID_SALES)
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        told = await alice.wait_for(lambda m: m["type"] == "recording", within=10)
        assert told["data"]["event"] == "started" and told["data"]["call_id"] == pop["call_id"]
        await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001", 10)
        await asyncio.sleep(3.0)
        carrier.hangup(call)
        await asyncio.to_thread(lab.wait_idle, 15)
        await asyncio.sleep(0.5)
        listed = (await desk.get("/api/recordings", params={"call_id": pop["call_id"]})).json()
    [recording] = listed["recordings"]
    linkedid = pop["call_id"].partition(":")[2].replace(".", "-")
    assert re.fullmatch(rf"rec-{linkedid}-\d+-\d+", recording["id"]), recording
    path = monitor_dir(lab) / f"{recording['id']}.wav"
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    print(f"answered at once: {recording['id']}.wav holds {seconds:.2f} s of about 3 s talk")
    assert 2.0 < seconds < 4.5, seconds
