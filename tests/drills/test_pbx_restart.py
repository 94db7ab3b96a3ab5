"""Drill 2 on the lab: `core restart now` with live calls (sip_tests.drill.pbx_restart).

Asserted: every call Asterisk had up gets exactly one record in the CRM, and the daemon holds
no call open once it is back; then that every such record is flagged as cut by the restart.
Printed, not asserted: how long Asterisk and then the daemon took to come back.

CI runs the full drill, 50 live calls (about 40 s here, as `cti drill pbx-restart`).

The flag: on ``core restart now`` Asterisk 22 sends a SoftHangupRequest with ``Cause: 4``
(AST_SOFTHANGUP_SHUTDOWN) for each channel, then ordinary Hangups (cause 16), and its
``Shutdown`` event only after them. The normalizer turns the first into
``PbxShuttingDownChannel`` and the tracker flags the call ``pbx_shutdown``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sip_tests.drill.lab_run import lab_offset
from sip_tests.drill.pbx_restart import run_pbx_restart
from sip_tests.lab import LabHandle

pytestmark = [pytest.mark.e2e, pytest.mark.drill]

CALLS = 50


async def test_asterisk_restart_closes_and_flags_every_live_call(
    lab: LabHandle, tmp_path: Path
) -> None:
    # A carrier call SIPp gave up on before it was answered (a loaded CI host lost 3 of 50
    # once) is not the daemon's to record: the drill goes on with the calls up, 45 at least.
    result = await run_pbx_restart(lab_offset(lab.settings), tmp_path, calls=CALLS, enough=0.9)
    print(result.report(quick=True).table())
    live = len(result.live_calls)
    assert live >= 0.9 * CALLS
    assert result.tracked_before == live
    assert result.missing == [], "calls up at the restart without a record"
    assert len(result.records) == live
    assert result.tracked_after == 0, "calls left open after the resync"
    assert result.unflagged == [], "records of calls the restart cut must say so"
