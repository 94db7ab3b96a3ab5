"""Drill 4: an agent's websocket dropped during 5 active lab calls (sip_tests.drill.ws_drop).

The real daemon, the lab Asterisk, SIPp carrier calls and pjsua2 phones that answer them. The
drill's own command drops the link for 30 s each time (``cti drill ws-drop``); here, to fit in
CI, each drop (a black hole, then a clean close) lasts ``CI_DROP_S``. The resume path does not
depend on how long the drop is as long as the daemon still holds the missed messages (10 min).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sip_tests.drill.ws_drop import report, run_ws_drop
from sip_tests.lab import LabHandle

pytestmark = [pytest.mark.drill, pytest.mark.e2e]

CI_DROP_S = 6.0  # longer than tab A's ping + pong timeout (3 s), so the black hole is noticed


async def test_a_dropped_websocket_gets_every_pop_back_without_gap_or_duplicate(
    lab: LabHandle, tmp_path: Path
) -> None:
    result = await run_ws_drop(lab, drop_s=CI_DROP_S, calls=5, workdir=tmp_path)
    print(report(result).table())
    blackhole, close = result.drops
    assert blackhole.kind == "blackhole" and close.kind == "close"
    assert blackhole.detected_after_s is not None, "tab A never noticed the black hole"
    for drop in result.drops:
        assert drop.drop_s >= CI_DROP_S
        assert drop.resume_mode == "replay", f"{drop.kind}: the daemon should replay, not snapshot"
        assert drop.replayed > 0, f"{drop.kind}: something happened during the drop"
        assert drop.pops_open == 5, f"{drop.kind}: {drop.pops_open} pops restored, not 5"
        assert drop.pops_match, f"{drop.kind}: tab A's pops differ from tab B's"
    assert blackhole.replayed >= 6  # calls 3-5 rang and were answered in the hole
    assert close.replayed == 10  # notes and a disposition saved on each call meanwhile
    assert result.gaps == 0 and result.duplicates == 0
    assert result.identical_stream, "tab A did not apply exactly the stream tab B saw"
    kinds = result.message_kinds
    for kind in ("pop", "call_state answered", "notes_saved", "disposition_saved"):
        assert kinds.get(kind) == 5, f"{kind}: {kinds}"
    assert kinds.get("call_state ended") == 5, kinds
    assert not kinds.get("pop_dismissed"), kinds
    assert result.max_pops_per_call == 1
    assert result.snapshot_pops == 5 and result.snapshot_match
    assert result.ended_calls == 5 and result.pops_left == 0
