"""Record the AMI transcripts of tests/fixtures/ami/ from real calls on the lab.

``python -m sip_tests.transcripts [NAME ...]`` (or ``cti lab transcripts``) brings the test lab
up, registers pjsua2 agent phones, places each scenario's calls with SIPp, and writes every AMI
event of the scenario to ``tests/fixtures/ami/NAME.jsonl``. The call tracker's tests replay them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cti.config import repo_root
from cti.lab.record import recording
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings
from sip_tests.lab import DID_SALES, TEST_LAB, LabHandle, direct_did, lab_settings_for, start_lab
from sip_tests.phone import AutoAnswer, AutoReject, Manual, Phone, PhoneFleet
from sip_tests.sipp import inbound_call, trunk_far_end

__all__ = ["SCENARIOS", "main", "record"]

FIXTURES = repo_root() / "tests" / "fixtures" / "ami"
CALLER = "+442079460001"
CALLER_NAME = "Ada Lovelace"
CLICK_NUMBER = "+442079460555"
DID_SALES_SHORT = "442079460109"  # sales with an 8 s queue timeout

Scenario = Callable[[LabHandle, dict[str, Phone]], None]


def _direct_answered(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(AutoAnswer(0.5))
    call = inbound_call(lab.sip, direct_did("1001"), CALLER, CALLER_NAME, hold_s=2.0)
    call.wait_outcome("local_hangup", 20)
    call.wait(10)


def _direct_not_answered(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(Manual())
    call = inbound_call(lab.sip, direct_did("1001"), CALLER, CALLER_NAME, answer_timeout_s=40)
    phones["1001"].wait_ringing(5)
    call.wait_outcome("rejected", 40)  # the dialplan gives up after 20 s and hangs up
    call.wait(10)


def _busy(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(AutoReject(486))
    call = inbound_call(lab.sip, direct_did("1001"), CALLER, CALLER_NAME)
    call.wait_outcome("busy", 20)
    call.wait(10)


def _queue_ringall_second_answers(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(Manual())
    phones["1002"].set_answer_policy(AutoAnswer(1.0))
    call = inbound_call(lab.sip, DID_SALES, CALLER, CALLER_NAME, hold_s=2.0)
    phones["1001"].wait_ringing(10)
    call.wait_outcome("local_hangup", 30)
    call.wait(10)


def _queue_abandoned(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(Manual())
    phones["1002"].set_answer_policy(Manual())
    call = inbound_call(lab.sip, DID_SALES, CALLER, CALLER_NAME, answer_timeout_s=3.0)
    phones["1001"].wait_ringing(10)
    call.wait_outcome("abandoned", 20)
    call.wait(10)


def _queue_timeout(lab: LabHandle, phones: dict[str, Phone]) -> None:
    """Nobody answers within the queue's 8 s timeout: the caller leaves (EXITWITHTIMEOUT)."""
    phones["1001"].set_answer_policy(Manual())
    phones["1002"].set_answer_policy(Manual())
    call = inbound_call(lab.sip, DID_SALES_SHORT, CALLER, CALLER_NAME, answer_timeout_s=30.0)
    phones["1001"].wait_ringing(10)
    call.wait(40)


def _queue_login_pause_logout(lab: LabHandle, phones: dict[str, Phone]) -> None:
    """An agent logs in to a queue, pauses with a reason, resumes and logs out (AMI QueueAdd,
    QueuePause, QueueRemove: what a phone's login key or the desktop does)."""
    member = {"Queue": "sales", "Interface": "PJSIP/1005"}
    named = {"MemberName": "Agent 1005", "StateInterface": "PJSIP/1005"}
    steps: tuple[dict[str, str], ...] = (
        {"Action": "QueueAdd", **member, **named},
        {"Action": "QueuePause", **member, "Paused": "true", "Reason": "Training"},
        {"Action": "QueuePause", **member, "Paused": "false"},
        {"Action": "QueueRemove", **member},
    )  # fmt: skip
    for step in steps:

        async def send(commands: AsteriskCommands, action: dict[str, str] = step) -> object:
            return await commands.send(action)

        asyncio.run(_ami(lab, send))
        time.sleep(1.0)


def _blind_transfer(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(AutoAnswer(0.3))
    phones["1002"].set_answer_policy(AutoAnswer(0.5))
    call = inbound_call(lab.sip, direct_did("1001"), CALLER, CALLER_NAME, hold_s=6.0)
    ringing = phones["1001"].wait_ringing(10)
    phones["1001"].wait_state(ringing, "CONFIRMED", 5)
    lab.wait_bridged("PJSIP/1001")
    phones["1001"].blind_transfer(ringing, "1002")
    phones["1002"].wait_ringing(10)
    call.wait_outcome("local_hangup", 30)
    call.wait(10)


def _attended_transfer(lab: LabHandle, phones: dict[str, Phone]) -> None:
    agent, target = phones["1001"], phones["1002"]
    agent.set_answer_policy(AutoAnswer(0.3))
    target.set_answer_policy(AutoAnswer(0.5))
    call = inbound_call(lab.sip, direct_did("1001"), CALLER, CALLER_NAME, hold_s=8.0)
    with_caller = agent.wait_ringing(10)
    agent.wait_state(with_caller, "CONFIRMED", 5)
    lab.wait_bridged("PJSIP/1001")
    agent.hold(with_caller)
    consult = agent.call("1002")
    agent.wait_state(consult, "CONFIRMED", 10)
    lab.wait_bridged("PJSIP/1002")
    agent.attended_transfer(with_caller, consult)
    call.wait_outcome("local_hangup", 30)
    call.wait(10)


def _desktop_attended_transfer(lab: LabHandle, phones: dict[str, Phone]) -> None:
    """The desktop's attended transfer: AMI ``Atxfer`` on the agent's channel, the colleague
    answers the consultation, the agent talks to them, then hangs up, which completes it."""
    agent, target = phones["1001"], phones["1002"]
    agent.set_answer_policy(AutoAnswer(0.3))
    target.set_answer_policy(AutoAnswer(1.0))
    call = inbound_call(lab.sip, direct_did("1001"), CALLER, CALLER_NAME, hold_s=10.0)
    with_caller = agent.wait_ringing(10)
    agent.wait_state(with_caller, "CONFIRMED", 5)
    lab.wait_bridged("PJSIP/1001")
    channel = _channel_of(lab, "PJSIP/1001")
    asyncio.run(_ami(lab, lambda c: c.attended_transfer(channel, "1002", "cti-transfer")))
    consult = target.wait_ringing(10)
    target.wait_state(consult, "CONFIRMED", 5)
    time.sleep(1.5)  # the agent and the colleague talk: still a consultation
    asyncio.run(_ami(lab, lambda c: c.hangup(channel)))  # complete: the caller meets 1002
    call.wait_outcome("local_hangup", 30)
    call.wait(10)


def _channel_of(lab: LabHandle, endpoint: str) -> str:
    for line in lab.instance.cli("core show channels concise").splitlines():
        name = line.split("!", 1)[0]
        if name.startswith(endpoint + "-"):
            return name
    raise AssertionError(f"no channel of {endpoint}")


async def _ami(lab: LabHandle, action: Callable[[AsteriskCommands], Awaitable[object]]) -> None:
    s = lab.settings
    ami = AmiSettings(
        host="127.0.0.1",
        port=s.ami_port,
        username=s.ami_username,
        secret=s.ami_secret.get_secret_value(),
    )
    async with AmiConnection("lab", ami, lambda frame, at: None) as connection:
        await connection.wait_ready(timeout_s=10)
        await action(AsteriskCommands(connection))


def _click_to_dial(lab: LabHandle, phones: dict[str, Phone]) -> None:
    phones["1001"].set_answer_policy(AutoAnswer(0.5))
    far_end = trunk_far_end(lab.sip, answer_delay_s=0.5, hold_s=2.0)
    try:
        asyncio.run(_originate(lab, "PJSIP/1001", CLICK_NUMBER))
        far_end.wait_outcome("local_hangup", 30)
    finally:
        far_end.stop()


async def _originate(lab: LabHandle, channel: str, number: str) -> None:
    await _ami(
        lab,
        lambda commands: commands.originate(
            channel,
            "cti-click-to-dial",
            number,
            caller_id=f'"Calling {number}" <{number}>',
            variables={"__CTI_ORIGINATE_ID": "transcript-click-1"},
        ),
    )


SCENARIOS: dict[str, Scenario] = {
    "direct_answered": _direct_answered,
    "direct_not_answered": _direct_not_answered,
    "busy": _busy,
    "queue_ringall_second_answers": _queue_ringall_second_answers,
    "queue_abandoned": _queue_abandoned,
    "queue_timeout": _queue_timeout,
    "queue_login_pause_logout": _queue_login_pause_logout,
    "blind_transfer": _blind_transfer,
    "attended_transfer": _attended_transfer,
    "desktop_attended_transfer": _desktop_attended_transfer,
    "click_to_dial": _click_to_dial,
}


async def _record_one(lab: LabHandle, phones: dict[str, Phone], name: str, out: Path) -> int:
    path = out / f"{name}.jsonl"
    path.unlink(missing_ok=True)
    async with recording(lab.settings, path) as recorder:
        await asyncio.sleep(0.3)  # FullyBooted first, then the calls
        await asyncio.to_thread(SCENARIOS[name], lab, phones)
        await asyncio.to_thread(lab.wait_idle, 30.0)
        await asyncio.sleep(0.5)  # the last Hangup and queue member events
    return recorder.frames_written


def record(names: list[str], out: Path = FIXTURES, lab_offset: int = 0) -> dict[str, int]:
    """Record ``names`` (all scenarios if empty); return events written per scenario.

    ``lab_offset``: the test lab instance to use (as CTI_TEST_LAB_OFFSET gives the tests).
    """
    unknown = sorted(set(names) - SCENARIOS.keys())
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {sorted(SCENARIOS)}")
    lab = start_lab(lab_settings_for(lab_offset) if lab_offset else TEST_LAB)
    counts: dict[str, int] = {}
    with PhoneFleet() as fleet:
        phones = {
            ext: fleet.phone(ext, lab.password(ext), lab.registrar) for ext in ("1001", "1002")
        }
        for phone in phones.values():
            phone.wait_registered(10)
        for name in names or list(SCENARIOS):
            lab.wait_idle(30)
            counts[name] = asyncio.run(_record_one(lab, phones, name, out))
            print(f"{name}: {counts[name]} events -> {out / (name + '.jsonl')}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"scenarios (default all): {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--lab-offset", type=int, default=0, help="the test lab instance's offset")
    args = parser.parse_args()
    record(args.names, args.out, args.lab_offset)


if __name__ == "__main__":
    main()
