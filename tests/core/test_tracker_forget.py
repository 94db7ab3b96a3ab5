"""A cluster node that lost a server's AMI lease drops that server's calls (issue 21): cut every
recorded transcript after every event, forget the server, and nothing of it is left while the
same calls on another server are untouched; forgetting ends nothing (no update, no record)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cti.core.tracker import CallTracker
from tests.transcript import NAMES, events_of, frames, is_agent


@pytest.mark.parametrize("name", NAMES)
def test_forgetting_a_server_leaves_nothing_of_it_and_touches_no_other(name: str) -> None:
    events = events_of(frames(name))
    for cut in range(1, len(events)):
        tracker = CallTracker(is_agent)
        tracker.feed_all(events[:cut])
        tracker.feed_all([replace(e, server="other") for e in events[:cut]])
        before = set(tracker._calls)  # merged consultations too
        kept = sorted(c for c in tracker.call_ids() if c.startswith("other:"))
        forgotten = tracker.forget_server("lab")
        assert sorted(forgotten) == sorted(c for c in before if c.startswith("lab:"))
        assert sorted(tracker.call_ids()) == kept, f"cut at {cut}"
        assert all(c.startswith("other:") for c in tracker._calls)
        assert tracker.active_count() == len(kept)
        for index in (tracker._by_channel, tracker._endpoints, tracker._names):
            assert all(server == "other" for server, _ in index), f"cut at {cut}"
        # The rest of the other server's call goes on as if nothing happened.
        whole = CallTracker(is_agent)
        whole.feed_all(events)
        rest = tracker.feed_all([replace(e, server="other") for e in events[cut:]])
        assert tracker.call_ids() == [] == whole.call_ids()
        assert not [u for u in rest if u.call.call_id.startswith("lab:")]
