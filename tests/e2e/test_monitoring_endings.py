"""Listen/whisper/barge sessions that end on their own, on the lab (issue 19, item 4).

- sam's phone (1010) rejects the call Asterisk rings it with (486): the session is gone from
  GET /api/monitor, monitor.ended is audited, and sam's console gets a monitoring frame saying
  his phone did not answer; alice's call goes on.
- sam listens, then alice's caller hangs up: the session ends, sam's phone is hung up (no 1010
  channel left), monitor.ended is audited and sam is told the agent's call ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, AutoReject, Phone, PhoneFleet
from tests.e2e.daemon import DaemonProcess, agent
from tests.e2e.monitoring_lab import console, events_of, monitoring_daemon

pytestmark = pytest.mark.e2e

CALLER = "+442079460001"
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("monitoring-endings")) as process:
        yield process


async def test_sessions_end_when_the_supervisor_s_phone_refuses_or_the_call_ends(
    lab: LabHandle, phones: Phones, daemon: DaemonProcess, fleet: PhoneFleet
) -> None:
    got = phones("1001", "1010")
    got["1001"].set_answer_policy(AutoAnswer(0.2))
    got["1010"].set_answer_policy(AutoReject())
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    async with agent(daemon, "alice") as alice, agent(daemon, "sam") as sam_ws:
        call = await asyncio.to_thread(carrier.call, direct_did("1001"))
        pop = (await alice.wait_for(lambda m: m["type"] == "pop", within=15))["data"]
        await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001", 10)
        async with console(daemon, "sam") as sam:
            joined = await sam.post(
                "/api/monitor", json={"call_id": pop["call_id"], "mode": "listen"}
            )
            assert joined.status_code == 201, joined.text
            first = joined.json()["id"]
            told = await sam_ws.wait_for(
                lambda m: m["type"] == "monitoring" and m["data"].get("session") == first, 15
            )
            assert told["data"]["reason"] == "not_answered", told
            assert (await sam.get("/api/monitor")).json()["sessions"] == []
            assert "PJSIP/1001-" in lab.instance.cli("core show channels concise")  # goes on

            got["1010"].set_answer_policy(AutoAnswer(0.2))
            again = await sam.post(
                "/api/monitor", json={"call_id": pop["call_id"], "mode": "listen"}
            )
            assert again.status_code == 201, again.text
            second = again.json()["id"]
            for _ in range(100):  # sam's phone answered and ChanSpy joined it to the call
                if "ChanSpy" in lab.instance.cli("core show channels concise"):
                    break
                await asyncio.sleep(0.1)
            assert "ChanSpy" in lab.instance.cli("core show channels concise")
            carrier.hangup(call)  # the caller leaves while sam listens
            told = await sam_ws.wait_for(
                lambda m: m["type"] == "monitoring" and m["data"].get("session") == second, 15
            )
            assert told["data"]["reason"] == "call_ended", told
            await asyncio.to_thread(lab.wait_idle, 15)
            assert "PJSIP/1010-" not in lab.instance.cli("core show channels concise")
            assert (await sam.get("/api/monitor")).json()["sessions"] == []
    history = await asyncio.to_thread(lambda: events_of(daemon, "monitor."))
    assert history == ["monitor.started", "monitor.ended", "monitor.started", "monitor.ended"]
