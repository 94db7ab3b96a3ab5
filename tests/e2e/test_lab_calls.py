"""Real calls through the lab Asterisk: SIPp as the carrier, pjsua2 phones as agents, AMI watched.

The AMI side is observed through the product's own AMI connection (panoramisk underneath), logged
in as the least-privilege CTI user of asterisk-config/manager.conf.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings
from pbx_adapters.asterisk.frame import AmiFrame
from sip_tests.lab import DID_SALES, LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone
from sip_tests.sipp import SippProcess, inbound_call, inbound_load

pytestmark = pytest.mark.e2e


class AmiWatch:
    """Every AMI event seen while the test runs, with the time it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, AmiFrame]] = []

    def __call__(self, frame: AmiFrame, received_at: float) -> None:
        self.events.append((received_at, frame))

    def names_for(self, channel_prefix: str) -> list[str]:
        return [
            f.name
            for _, f in self.events
            if (f.get("Channel") or f.get("DestChannel")).startswith(channel_prefix)
        ]

    async def wait_for(self, predicate: Callable[[AmiFrame], bool], within: float) -> AmiFrame:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for _, frame in self.events:
                if predicate(frame):
                    return frame
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching AMI event in {within} s; saw {len(self.events)}")


@pytest.fixture
async def ami(lab: LabHandle) -> AsyncIterator[AmiWatch]:
    watch = AmiWatch()
    s = lab.settings
    settings = AmiSettings(
        host="127.0.0.1",
        port=s.ami_port,
        username=s.ami_username,
        secret=s.ami_secret.get_secret_value(),
    )
    async with AmiConnection("lab", settings, watch) as connection:
        await connection.wait_ready(timeout_s=10)
        yield watch


async def test_trunk_call_rings_and_is_answered_by_an_agent_phone(
    lab: LabHandle,
    phones: Callable[..., dict[str, Phone]],
    ami: AmiWatch,
    sipp_calls: list[SippProcess],
) -> None:
    agent = phones("1001")["1001"]
    agent.set_answer_policy(AutoAnswer(0.3))
    call = inbound_call(lab.sip, direct_did("1001"), "+442079460001", "Ada Lovelace", hold_s=1.0)
    sipp_calls.append(call)

    ringing = await asyncio.to_thread(agent.wait_ringing, 10)
    assert (ringing.caller_number, ringing.caller_name) == ("+442079460001", "Ada Lovelace")
    await asyncio.to_thread(agent.wait_state, ringing, "CONFIRMED", 10)
    await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
    await asyncio.to_thread(lab.wait_idle, 10)

    hangup = await ami.wait_for(
        lambda f: f.name == "Hangup" and f.get("Channel").startswith("PJSIP/lab-trunk"), 5
    )
    linkedid = hangup.get("Linkedid")
    names = [f.name for _, f in ami.events if f.get("Linkedid") == linkedid]
    for expected in ("Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup"):
        assert expected in names, f"{expected} missing from {names}"
    dial_end = next(
        f for _, f in ami.events if f.name == "DialEnd" and f.get("Linkedid") == linkedid
    )
    assert dial_end.get("DialStatus") == "ANSWER"
    assert dial_end.get("DestChannel").startswith("PJSIP/1001-")
    did = [v for v in hangup.get_all("ChanVariable") if v.startswith("CTI_DID=")]
    assert did == [f"CTI_DID={direct_did('1001')}"]
    # The phone saw the INVITE before Asterisk reported the answer.
    assert ringing.invite_at < time.monotonic()


async def test_ringall_queue_rings_both_phones_and_one_answers(
    lab: LabHandle,
    phones: Callable[..., dict[str, Phone]],
    ami: AmiWatch,
    sipp_calls: list[SippProcess],
) -> None:
    got = phones("1001", "1002")
    got["1002"].set_answer_policy(AutoAnswer(0.5))
    call = inbound_call(lab.sip, DID_SALES, "+442079460002", "Grace Hopper", hold_s=1.0)
    sipp_calls.append(call)

    first = await asyncio.to_thread(got["1001"].wait_ringing, 10)
    second = await asyncio.to_thread(got["1002"].wait_ringing, 10)
    await asyncio.to_thread(got["1002"].wait_state, second, "CONFIRMED", 10)
    await asyncio.to_thread(got["1001"].wait_state, first, "DISCONNECTED", 10)
    await asyncio.to_thread(call.wait_outcome, "local_hangup", 20)
    await asyncio.to_thread(lab.wait_idle, 10)

    connect = await ami.wait_for(lambda f: f.name == "AgentConnect", 5)
    assert connect.get("Queue") == "sales"
    assert connect.get("Interface") == "PJSIP/1002"
    called = {f.get("Interface") for _, f in ami.events if f.name == "AgentCalled"}
    assert called == {"PJSIP/1001", "PJSIP/1002"}


def test_load_scenario_places_a_bounded_number_of_calls_at_a_rate(
    lab: LabHandle, sipp_calls: list[SippProcess]
) -> None:
    """SIPp's load scenario: 8 calls at 4 calls/s, callers taken in turn from the list."""
    callers = [(f"+4420794609{n:02d}", f"Caller {n}") for n in range(4)]
    load = inbound_load(lab.sip, "999", callers, rate_per_s=4, count=8)  # no such DID
    sipp_calls.append(load)
    result = load.wait(60)
    assert result.returncode == 0, result.stderr
    assert [o.outcome for o in result.outcomes] == ["rejected"] * 8  # the DID is unallocated
    assert len({o.call_id for o in result.outcomes}) == 8
