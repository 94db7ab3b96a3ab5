"""Drill 6 on the lab: click-to-dial in flight when AMI is cut (sip_tests.drill.originate_cut).

Two rounds, one per way the cut can fall: after Asterisk took the Originate (its answer lost:
exactly one call, at the phone, the trunk and in the CDR) and before (no call at all). Either
way the agent is told the outcome is unknown (503) and the daemon never sends it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sip_tests.drill.lab_run import lab_offset
from sip_tests.drill.originate_cut import run_originate_cut
from sip_tests.lab import LabHandle

pytestmark = [pytest.mark.e2e, pytest.mark.drill]


async def test_originate_cut_in_flight_places_one_call_and_is_never_resent(
    lab: LabHandle, tmp_path: Path
) -> None:
    result = await run_originate_cut(lab_offset(lab.settings), tmp_path, rounds=2, settle_s=4.0)
    print(result.report(quick=True).table())
    reply_lost, request_lost = result.rounds
    assert (reply_lost.mode, request_lost.mode) == ("reply-lost", "request-lost")
    for done in result.rounds:
        assert done.originates_sent == 1, f"{done.mode}: the Originate went out more than once"
        assert (done.http_status, done.error) == (503, "ami.connection_lost")
    assert (reply_lost.phone_invites, reply_lost.trunk_invites, reply_lost.cdr_calls) == (1, 1, 1)
    assert (request_lost.phone_invites, request_lost.trunk_invites, request_lost.cdr_calls) == (
        0,
        0,
        0,
    )
    assert result.record_ids == list(reply_lost.call_ids), "the one call placed has one record"
