"""Drill 1 on the lab, CI-sized: 40 calls at 10/s with 4 AMI cuts (sip_tests.drill.ami_cuts).

The full drill (`cti drill ami-cuts`: 200 calls, 20 cuts) runs for minutes because the daemon's
reconnect backoff grows with each cut of a session younger than 30 s; four cuts keep the CI run
near a minute while every cut still lands during live calls (answered, ringing, queued).
Asserted: what Asterisk's CDR holds and what the CRM holds are the same calls, once each.
Printed, not asserted: the resync and reconnect times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sip_tests.drill.ami_cuts import run_ami_cuts
from sip_tests.drill.lab_run import lab_offset
from sip_tests.lab import LabHandle

pytestmark = [pytest.mark.e2e, pytest.mark.drill]

CALLS, CUTS = 40, 4


async def test_ami_cut_four_times_during_forty_calls_loses_and_doubles_nothing(
    lab: LabHandle, tmp_path: Path
) -> None:
    result = await run_ami_cuts(
        lab_offset(lab.settings), tmp_path, calls=CALLS, rate_per_s=10.0, cuts=CUTS, seed=8
    )
    print(result.report(quick=True).table())
    assert result.cuts == CUTS and result.logins == CUTS + 1, "every cut must cut a live session"
    assert result.calls_placed == CALLS
    assert result.cdr_calls == CALLS, "Asterisk's CDR must show every call SIPp placed"
    assert result.comparison.lost == [], "calls in the CDR without a record in the CRM"
    assert result.comparison.duplicated == [], "records in the CRM of no call in the CDR"
    assert result.crm_records == CALLS
