"""The announcement before a recorded call, on the lab (issue 19): with the Sales group recorded
and announcing ``beep``, the caller hears Asterisk's beep before alice's phone rings (the caller's
own recording of what it receives carries it); with no announcement the caller hears nothing
before alice answers. The caller is a pjsua2 carrier line; alice's phone answers after 3 s and
sends no audio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sip_tests.lab import LabHandle, direct_did
from sip_tests.phone import AutoAnswer, Phone, PhoneFleet
from sip_tests.tones import read_wav, rms
from tests.e2e.daemon import DaemonProcess
from tests.e2e.monitoring_lab import console, monitoring_daemon

pytestmark = pytest.mark.e2e

CALLER = "+442079460001"
Phones = Callable[..., dict[str, Phone]]


@pytest.fixture(scope="module")
def daemon(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with monitoring_daemon(lab, tmp_path_factory.mktemp("announcement")) as process:
        yield process


async def caller_hears(
    lab: LabHandle, fleet: PhoneFleet, phones: Phones, path: Path
) -> tuple[float, float]:
    """Call alice; the RMS of what the caller receives in its first second, and how long the
    call took to be answered by Asterisk before alice (0 when alice's answer confirmed it)."""
    carrier = fleet.carrier(CALLER, lab.settings.trunk_host, lab.registrar)
    carrier.reset()
    alice = phones("1001")["1001"]
    alice.set_answer_policy(AutoAnswer(3.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    call = await asyncio.to_thread(carrier.call, direct_did("1001"))
    await asyncio.to_thread(carrier.wait_state, call, "CONFIRMED", 15)
    confirmed_after = loop.time() - started
    await asyncio.to_thread(carrier.wait_media, call, "ACTIVE", 5)
    await asyncio.to_thread(carrier.start_recording, call, path)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(carrier.stop_recording, call)
    carrier.hangup(call)
    await asyncio.to_thread(lab.wait_idle, 15)
    return rms(read_wav(path).window(0.0, 1.0)), confirmed_after


async def test_the_caller_hears_the_announcement_only_when_the_group_has_one(
    lab: LabHandle, fleet: PhoneFleet, phones: Phones, daemon: DaemonProcess, tmp_path: Path
) -> None:
    async with console(daemon, "sam") as sam:
        set_to = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "announcement": "beep"},
        )
        assert set_to.status_code == 200, set_to.text
        assert set_to.json()["announcement"] == "beep"
        bad = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "announcement": "../../etc/passwd"},
        )
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "announcement"
    loud, early = await caller_hears(lab, fleet, phones, tmp_path / "announced.wav")

    async with console(daemon, "sam") as sam:
        cleared = await sam.put(
            "/api/supervisor/recording-policy",
            params={"group": "Sales"},
            json={"policy": "always", "announcement": ""},
        )
        assert cleared.status_code == 200, cleared.text
    quiet, late = await caller_hears(lab, fleet, phones, tmp_path / "plain.wav")
    print(f"announced: rms {loud:.0f} after {early:.1f} s; plain: {quiet:.0f} after {late:.1f} s")
    assert early < 2.0 < late  # Asterisk answered to play it, before alice's phone did
    assert loud > 500.0 and quiet < 100.0
