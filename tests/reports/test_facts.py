"""Facts from recorded lab transcripts (real AMI), and the pure counting of them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cti.core.events import QueueMemberChanged, QueueMemberRemoved
from cti.core.tracker import CallTracker
from cti.core.updates import CallEnded
from cti.reports.buckets import Counting, Deltas, day_start
from cti.reports.facts import CallDone, FactTracker, QueueVisit, RingNoAnswer, Span
from pbx_adapters.asterisk.normalize import Normalizer
from tests.transcript import events_of, frames, is_agent, updates_of

NAMES = {"PJSIP/1001": "alice", "PJSIP/1002": "bob"}


def agent_name(endpoint: str) -> str:
    return NAMES.get(endpoint, endpoint)


def facts_of(name: str) -> list[object]:
    tracker = FactTracker(agent_name)
    facts: list[object] = []
    for event in events_of(frames(name)):
        facts += tracker.feed(event)
    return facts


def test_abandoned_queue_call_is_one_abandoned_visit() -> None:
    facts = facts_of("queue_abandoned")
    assert len(facts) == 1
    visit = facts[0]
    assert isinstance(visit, QueueVisit)
    assert (visit.queue, visit.outcome, visit.position, visit.agent) == (
        "sales",
        "abandoned",
        1,
        None,
    )
    assert visit.wait_s == 3.0  # QueueCallerAbandon's HoldTime


def test_ringall_answered_by_second_agent() -> None:
    facts = facts_of("queue_ringall_second_answers")
    visits = [f for f in facts if isinstance(f, QueueVisit)]
    assert len(visits) == 1
    visit = visits[0]
    assert (visit.queue, visit.outcome, visit.agent) == ("sales", "answered", "bob")
    assert visit.wait_s == 1.0  # AgentConnect's HoldTime
    assert visit.talk_s >= 1.0  # AgentComplete's TalkTime
    assert not [f for f in facts if isinstance(f, RingNoAnswer)]  # ringall: the other was cancelled


def test_call_records_count_per_did_and_agent() -> None:
    updates, _ = updates_of(frames("queue_ringall_second_answers"))
    tracker = FactTracker(agent_name)
    records = [u.record for u in updates if isinstance(u, CallEnded) and u.record is not None]
    assert len(records) == 1
    facts = tracker.record(records[0])
    counting = Counting(tz=ZoneInfo("Europe/London"))
    deltas = Deltas(counting)
    deltas.count(facts)
    did = records[0].did
    assert did
    day = [k for k in deltas.sums if k[0] == "d" and k[2] == "did"]
    assert {k[4] for k in day} == {"offered", "answered", "talk"}


def _member(at: float, paused: bool, reason: str = "", added: bool = False) -> QueueMemberChanged:
    return QueueMemberChanged(
        "lab", at, "sales", "PJSIP/1001", "Alice", paused, reason, 1, False, added
    )


def test_pause_and_login_spans_cut_at_quarter_edges() -> None:
    tracker = FactTracker(agent_name)
    t0 = datetime(2026, 12, 1, 9, 10, tzinfo=UTC).timestamp()
    facts = [
        *tracker.feed(_member(t0, False, added=True)),
        *tracker.feed(_member(t0 + 60, True, "lunch")),
        *tracker.feed(_member(t0 + 660, False)),  # 9:11 to 9:21: 4 min + 6 min
        *tracker.feed(QueueMemberRemoved("lab", t0 + 1200, "sales", "PJSIP/1001", "Alice")),
    ]
    spans = [f for f in facts if isinstance(f, Span)]
    assert [(s.kind, s.reason, s.end - s.start) for s in spans] == [
        ("pause", "lunch", 600.0),
        ("login", "", 1200.0),
    ]
    counting = Counting(tz=ZoneInfo("Europe/London"))
    deltas = Deltas(counting)
    deltas.count(spans)
    q1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
    q2 = q1 + 900
    assert deltas.sums[("q", int(q1), "agent", "alice", "pause:lunch")] == 240.0
    assert deltas.sums[("q", int(q2), "agent", "alice", "pause:lunch")] == 360.0
    day = day_start(t0, counting.tz)
    assert deltas.sums[("d", day, "agent", "alice", "login")] == 1200.0


def test_visit_metrics_short_abandon_and_service_level() -> None:
    counting = Counting(tz=ZoneInfo("America/New_York"), short_abandon_s=5, service_level_s=20)
    at = datetime(2026, 12, 1, 14, 0, tzinfo=UTC).timestamp()
    deltas = Deltas(counting)
    deltas.count(
        [
            QueueVisit("sales", at, 1, "answered", 10.0, "alice", 30.0),
            QueueVisit("sales", at, 2, "answered", 25.0, "bob", 40.0),
            QueueVisit("sales", at, 1, "abandoned", 3.0),
            QueueVisit("sales", at, 1, "abandoned", 12.0),
            QueueVisit("sales", at, 1, "exited", 60.0),
        ],
    )
    day = day_start(at, counting.tz)
    got = {k[4]: v for k, v in deltas.sums.items() if k[:3] == ("d", day, "queue")}
    assert got == {
        "offered": 5, "answered": 2, "wait_answered": 35.0, "sl_answered": 1, "talk": 70.0,
        "abandoned": 2, "abandoned_short": 1, "exited": 1,
    }  # fmt: skip
    assert deltas.sums[("d", day, "agent", "bob", "queue_calls")] == 1
    assert deltas.maxes[("d", day, "queue", "sales", "wait_max")] == 60.0


def test_normalizer_reads_member_added_and_removed() -> None:
    n = Normalizer("lab")
    added = n.event(
        (("Event", "QueueMemberAdded"), ("Queue", "sales"), ("Interface", "PJSIP/1001"),
         ("MemberName", "Alice"), ("Paused", "0"), ("Status", "1")), 5.0,
    )  # fmt: skip
    removed = n.event(
        (("Event", "QueueMemberRemoved"), ("Queue", "sales"), ("Interface", "PJSIP/1001"),
         ("MemberName", "Alice")), 6.0,
    )  # fmt: skip
    assert isinstance(added, QueueMemberChanged) and added.added
    assert removed == QueueMemberRemoved("lab", 6.0, "sales", "PJSIP/1001", "Alice")


def test_a_caller_sent_on_by_the_queue_timeout_left_on_timeout_not_abandoned() -> None:
    """Asterisk 22 sends QueueCallerAbandon on the queue's timeout too (queue_log says
    EXITWITHTIMEOUT); no HangupRequest came first, so the caller did not abandon."""
    facts = facts_of("queue_timeout")
    visits = [f for f in facts if isinstance(f, QueueVisit)]
    assert [(v.queue, v.outcome, v.wait_s, v.agent) for v in visits] == [
        ("sales", "exited", 8.0, None)
    ]
    rna = sorted(f.agent for f in facts if isinstance(f, RingNoAnswer))
    assert rna == ["alice", "bob"]  # the timeout cut both rings short: Asterisk logs them


def test_login_pause_with_a_reason_and_logout_from_a_recorded_session() -> None:
    events = events_of(frames("queue_login_pause_logout"))
    tracker = FactTracker(lambda endpoint: {"PJSIP/1005": "erin"}.get(endpoint, endpoint))
    facts = [fact for event in events for fact in tracker.feed(event)]
    spans = [f for f in facts if isinstance(f, Span)]
    assert [(s.kind, s.agent, s.reason, s.queue) for s in spans] == [
        ("pause", "erin", "Training", None),
        ("login", "erin", "", None),
    ]
    pause, login = spans
    assert 0.9 < pause.end - pause.start < 1.2  # the recorded scenario paused for 1 s
    assert 2.9 < login.end - login.start < 3.2  # and was logged in for 3 s
    assert login.start < pause.start < pause.end < login.end
    assert tracker.checkpoint(login.end + 10) == []  # logged out: nothing left open


def _call_facts(name: str) -> list[object]:
    """The facts of a transcript's events and call updates, as the recorder feeds them."""
    tracker, calls = FactTracker(agent_name), CallTracker(is_agent)
    facts: list[object] = []
    for event in events_of(frames(name)):
        facts += tracker.feed(event)
        for update in calls.feed(event):
            facts += tracker.call_update(update, event.at)
    return facts


def test_a_transferred_call_counts_for_each_agent_who_answered_it_with_their_talk() -> None:
    """Asterisk's CDR has a row for the agent who answered and one for the colleague the
    caller went to: both handled the call, each for their part of the talk."""
    for name in ("blind_transfer", "attended_transfer"):
        [done] = [f for f in _call_facts(name) if isinstance(f, CallDone)]
        assert [agent for agent, _ in done.handled] == ["alice", "bob"], name
        assert done.agent == "bob"  # the record names the last one
        alice_talk, bob_talk = (talk for _, talk in done.handled)
        assert alice_talk > 0.5 and bob_talk > 3.0, (name, done.handled)
        deltas = Deltas(Counting(tz=ZoneInfo("UTC")))
        deltas.count([done])
        calls = {k[3]: v for k, v in deltas.sums.items() if k[0] == "d" and k[4] == "calls"}
        assert calls == {"alice": 1.0, "bob": 1.0}, name


def test_an_outbound_call_counts_for_the_agent_who_placed_it() -> None:
    [done] = [f for f in _call_facts("click_to_dial") if isinstance(f, CallDone)]
    assert (done.outbound, done.handled, done.agent) == (True, (), "alice")
