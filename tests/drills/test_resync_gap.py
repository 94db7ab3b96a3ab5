"""What fault drill 1 (AMI cuts) found, distilled to the pure tracker: no lab needed.

On the lab, a call that was ringing an agent when AMI was cut, and was answered while AMI was
down, was recorded ``abandoned`` with no agent, though Asterisk's CDR said ANSWERED: 56 of 200
calls in one 20-cut run of `cti drill ami-cuts`. The resync listed both channels Up, but the
tracker skipped channels it already knew, so the agent's leg stayed RINGING and the caller's
later hang-up read as an abandon. The resync now takes a known leg's listed state.
"""

from __future__ import annotations

import pytest

from cti.core.events import ChannelsListed, PbxEvent
from cti.core.records import Outcome
from cti.core.tracker import CallTracker
from cti.core.updates import CallEnded
from tests.core.test_tracker_resync import _live_channels
from tests.transcript import events_of, frames, is_agent

pytestmark = pytest.mark.drill


def _listed(events: list[PbxEvent], at: float) -> ChannelsListed:
    """What CoreShowChannels lists after ``events``: the live channels as last seen."""
    return ChannelsListed(server="lab", at=at, channels=_live_channels(events))


def test_a_call_answered_while_ami_was_down_is_recorded_answered() -> None:
    events = events_of(frames("direct_answered"))
    answer = next(i for i, e in enumerate(events) if type(e).__name__ == "DialEnded")
    bridged = max(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
    seen, dark, after = events[:answer], events[answer : bridged + 1], events[bridged + 1 :]
    assert any(type(e).__name__ == "DialBegan" for e in seen), "it rang while AMI was up"
    assert {c.channel.state.name for c in _listed(seen + dark, 0).channels} == {"UP"}

    tracker = CallTracker(is_agent)
    tracker.feed_all(seen)  # then AMI is cut; the answer happens in the dark
    tracker.feed(_listed(seen + dark, dark[-1].at))  # reconnected: both channels listed Up
    ended = [u for u in tracker.feed_all(after) if isinstance(u, CallEnded)]

    assert len(ended) == 1 and ended[0].record is not None
    assert ended[0].record.outcome is Outcome.ANSWERED
    assert ended[0].record.answered_by == "PJSIP/1001"
    assert "resynced_answer" in ended[0].record.flags
