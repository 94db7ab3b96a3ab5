"""Live calls kept in the store across a restart (SQLite and PostgreSQL).

The journal and the tracker are the real ones; the calls are recorded lab transcripts. A
"restart" is a new tracker and a new journal on the same database.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from cti.core.events import ChannelsListed
from cti.core.tracker import CallTracker
from cti.core.updates import CallAnswered, CallEnded, CallStarted, CallUpdate
from cti.live_calls import LiveCallJournal
from cti.store import Store
from pbx_adapters.asterisk.frame import AmiFrame
from sip_tests.bench.transcripts import load_scripts
from tests.transcript import events_of, frames, is_agent


def _run(store: Store) -> tuple[CallTracker, LiveCallJournal]:
    tracker = CallTracker(is_agent)
    return tracker, LiveCallJournal(store.aio, tracker)


def _feed(tracker: CallTracker, journal: LiveCallJournal, name: str, stop: int) -> list[CallUpdate]:
    updates = tracker.feed_all(events_of(frames(name))[:stop])
    journal.observe(updates)
    return updates


def test_rows_are_upserted_loaded_and_deleted_with_the_record(store: Store) -> None:
    store.save_live_calls({"lab:1": {"server": "lab", "n": 1}, "lab:2": {"server": "lab", "n": 2}})
    store.save_live_calls({"lab:1": {"server": "lab", "n": 3}})
    assert [(c, s, d["n"]) for c, s, d, _ in store.live_calls()] == [
        ("lab:1", "lab", 3),
        ("lab:2", "lab", 2),
    ]
    store.save_live_calls({}, gone=["lab:2"])
    assert [d["n"] for _, _, d, _ in store.live_calls()] == [3]


async def test_an_answered_call_survives_a_restart_and_is_recorded_once(store: Store) -> None:
    tracker, journal = _run(store)
    events = events_of(frames("direct_answered"))
    answered = next(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
    _feed(tracker, journal, "direct_answered", answered + 1)
    assert await journal.save()
    [(_, server, saved, _)] = store.live_calls()
    assert server == "lab" and saved["agent"] == "PJSIP/1001"
    assert await journal.save()  # nothing changed: nothing written
    assert journal.saves == 1

    # The daemon restarts; meanwhile the caller hung up.
    tracker, journal = _run(store)
    restored = await journal.restore(["lab"])
    assert [type(u) for u in restored] == [CallStarted, CallAnswered]
    ended = [
        u
        for u in tracker.feed(ChannelsListed(server="lab", at=1.0, channels=()))
        if isinstance(u, CallEnded)
    ]
    assert len(ended) == 1 and ended[0].record is not None
    assert {"restored", "vanished"} <= set(ended[0].record.flags)
    journal.observe(ended)

    assert store.end_call(ended[0].record, ["builtin"]) is True
    assert store.live_calls() == []  # gone in the transaction that queued the record
    assert await journal.save()
    assert store.live_calls() == []  # the journal does not bring it back
    assert [e.call_id for e in store.outbox_entries()] == [ended[0].call.call_id]

    tracker, journal = _run(store)  # one more restart: nothing to take back, nothing twice
    assert await journal.restore(["lab"]) == []


async def test_a_merged_consultation_is_forgotten_without_a_record(store: Store) -> None:
    tracker, journal = _run(store)
    events = events_of(frames("attended_transfer"))
    merged = next(i for i, e in enumerate(events) if type(e).__name__ == "AttendedTransferred")
    _feed(tracker, journal, "attended_transfer", merged)
    assert await journal.save()
    assert len(store.live_calls()) == 2  # the call and the consultation
    updates = tracker.feed_all(events[merged:])
    journal.observe(updates)
    assert [u.record is None for u in updates if isinstance(u, CallEnded)] == [True, False]
    assert await journal.save()
    assert len(store.live_calls()) == 1  # the call waits for its record; the consult is gone


async def test_saved_calls_of_other_servers_and_unreadable_rows_stay(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    tracker, journal = _run(store)
    _feed(tracker, journal, "direct_answered", 6)
    assert await journal.save()
    store.save_live_calls({"lab:bad": {"server": "lab", "version": 99}})

    tracker, journal = _run(store)
    with caplog.at_level(logging.WARNING, logger="cti.live_calls"):
        assert await journal.restore(["other"]) == []
        assert "unknown server lab" in caplog.text
        assert await journal.restore(["lab"])
        assert "lab:bad" in caplog.text and "cannot be read back" in caplog.text
    assert len(tracker.active_calls()) == 1
    assert len(store.live_calls()) == 2  # neither is deleted: nothing is lost


async def test_close_saves_every_live_call(store: Store) -> None:
    tracker, journal = _run(store)
    journal.start()
    _feed(tracker, journal, "queue_ringall_second_answers", 12)
    await journal.close()
    assert [c for c, _, _, _ in store.live_calls()] == [v.call_id for v in tracker.active_calls()]


async def test_a_change_no_update_announces_is_saved_by_the_sweep(store: Store) -> None:
    tracker = CallTracker(is_agent)
    journal = LiveCallJournal(store.aio, tracker, sweep=1)
    events = events_of(frames("direct_answered"))
    created = [i for i, e in enumerate(events) if type(e).__name__ == "ChannelCreated"]
    for event in events[: created[0] + 1]:
        journal.observe(tracker.feed(event))  # the trunk's channel: CallStarted
    assert await journal.save()
    [(_, _, first, _)] = store.live_calls()
    for event in events[created[0] + 1 : created[1] + 1]:
        assert tracker.feed(event) == []  # the agent's channel joins: no update says so
    assert await journal.save()
    [(_, _, second, _)] = store.live_calls()
    assert len(second["channels"]) == len(first["channels"]) + 1


class _CountingTracker(CallTracker):
    """The real tracker, counting the snapshots the journal takes."""

    snapshots = 0

    def snapshot(self, call_id: str) -> dict[str, object] | None:
        self.snapshots += 1
        return super().snapshot(call_id)


async def test_a_save_of_many_calls_lets_the_loop_run_and_skips_a_call_ended_meanwhile(
    store: Store,
) -> None:
    """Snapshotting hundreds of calls takes milliseconds: the journal yields to the loop every
    50 (pops go out meanwhile), and a call that ends in between is not saved again over the
    deletion that came with its record."""
    tracker = _CountingTracker(is_agent)
    journal = LiveCallJournal(store.aio, tracker, sweep=0)
    [script] = load_scripts(["direct_answered"])
    calls = []
    for call in range(120):
        events = events_of(AmiFrame.from_pairs(f.pairs) for f in script.play(call))
        answered = next(i for i, e in enumerate(events) if type(e).__name__ == "BridgeEntered")
        journal.observe(tracker.feed_all(events[: answered + 1]))
        calls.append(events[answered + 1 :])
    first = tracker.call_ids()[0]
    seen_at_first_yield: list[int] = []

    async def meanwhile() -> None:
        await asyncio.sleep(0)
        seen_at_first_yield.append(tracker.snapshots)
        ended = [u for u in tracker.feed_all(calls[0]) if isinstance(u, CallEnded)]
        assert ended[0].call.call_id == first and ended[0].record is not None
        journal.observe(ended)
        assert store.end_call(ended[0].record, ["builtin"]) is True

    other = asyncio.create_task(meanwhile())
    assert await journal.save()
    await other
    assert seen_at_first_yield and 0 < seen_at_first_yield[0] < 120
    saved = [c for c, _, _, _ in store.live_calls()]
    assert first not in saved and len(saved) == 119
