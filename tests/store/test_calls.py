"""Call notes, and ending a call: notes merged into its record, one outbox row per connector."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cti.errors import ValidationFailed
from cti.store import CallNote, GroupSpec, Store
from cti.store.calls import merge_notes, notes_text
from tests.store.fakes import START, FakeClock, record

CALL = "lab:1700000000.1"


def note(username: str, notes: str, disposition: str | None = None, at: int = 0) -> CallNote:
    time = START + timedelta(seconds=at)
    return CallNote(CALL, username, notes, disposition, time, time if disposition else None)


# ------------------------------------------------------------------------- merge (pure)
def test_no_notes_leave_the_record_alone() -> None:
    call = record(notes="from the PBX", disposition="x")
    assert merge_notes(call, []) is call


def test_one_author_is_taken_as_typed() -> None:
    merged = merge_notes(record(), [note("alice", "  Reset the router.\n", "Resolved")])
    assert (merged.notes, merged.disposition) == ("Reset the router.", "Resolved")


def test_several_authors_are_named_in_the_order_they_wrote() -> None:
    """After two transfers (alice -> bob -> carol) the record reads as the call went, even
    though carol, the last agent, is the one the record says answered."""
    notes = [
        note("carol", "Refund approved.", at=9),
        note("bob", "Took the transfer; billing issue.", at=5),
        replace(note("alice", "Caller wants a refund.", at=2), author="Alice Agent"),
        note("dave", "   ", at=3),  # nothing written: left out
    ]
    merged = merge_notes(record(answered_by="carol"), notes)
    assert merged.notes == (
        "Alice Agent: Caller wants a refund.\n\n"
        "bob: Took the transfer; billing issue.\n\n"
        "carol: Refund approved."
    )
    assert notes_text(notes) == merged.notes  # what the next agent's pop shows, too


def test_the_answering_agents_disposition_wins() -> None:
    notes = [note("alice", "", "Resolved", at=1), note("bob", "", "Escalated", at=2)]
    assert merge_notes(record(answered_by="alice"), notes).disposition == "Resolved"


def test_else_the_disposition_set_last() -> None:
    notes = [note("bob", "", "Escalated", at=5), note("carol", "", "Follow-up", at=2)]
    assert merge_notes(record(answered_by="alice"), notes).disposition == "Escalated"
    assert merge_notes(record(answered_by=None), notes).disposition == "Escalated"


def test_merging_again_gives_the_same_record() -> None:
    notes = [note("alice", "A", "Resolved"), note("bob", "B", at=1)]
    once = merge_notes(record(), notes)
    assert merge_notes(once, notes) == once


# --------------------------------------------------------------------------- notes
def test_notes_are_saved_as_typed_and_survive(store: Store, clock: FakeClock) -> None:
    store.create_agent("alice", display_name="Alice Archer")
    store.save_notes(CALL, "alice", "Reset", None)
    clock.advance(5)
    store.save_notes(CALL, "alice", "Reset the router", "Resolved")
    clock.advance(5)
    store.save_notes(CALL, "alice", "Reset the router.", "Resolved")  # same disposition

    [saved] = store.notes_for(CALL)

    assert (saved.notes, saved.disposition, saved.author) == (
        "Reset the router.",
        "Resolved",
        "Alice Archer",
    )
    assert saved.updated_at == START + timedelta(seconds=10)
    assert saved.disposition_at == START + timedelta(seconds=5)  # when it was picked
    assert store.notes_for("other:call") == []


def test_notes_of_several_agents_and_odd_text(store: Store) -> None:
    store.save_notes(CALL, "bob", "nul\x00 and \ud800 surrogate", None)
    store.save_notes(CALL, "alice", "", "Resolved")

    notes = {n.username: n for n in store.notes_for(CALL)}

    assert notes["bob"].notes == "nul and ? surrogate"
    assert notes["bob"].author == ""  # no such agent (any more): the username is kept
    assert notes["alice"].disposition == "Resolved"


def test_bad_notes_are_refused(store: Store) -> None:
    with pytest.raises(ValidationFailed):
        store.save_notes("", "alice", "x")
    with pytest.raises(ValidationFailed):
        store.save_notes(CALL, "Alice!", "x")
    with pytest.raises(ValidationFailed):
        store.save_notes(CALL, "alice", "x" * 70000)


# ------------------------------------------------------------------------- end_call
def test_end_call_merges_notes_and_queues_one_row_per_connector(store: Store) -> None:
    store.create_agent("alice", display_name="Alice Archer")
    store.save_notes(CALL, "alice", "Caller wants a callback.", "Follow-up")
    store.save_notes(CALL, "bob", "Warm transfer from me.", "Escalated")

    assert store.end_call(record(CALL, answered_by="alice"), ["builtin", "salesforce"]) is True

    rows = store.outbox_entries()
    assert [(r.call_id, r.connector, r.attempts, r.delivered_at) for r in rows] == [
        (CALL, "builtin", 0, None),
        (CALL, "salesforce", 0, None),
    ]
    assert rows[0].next_attempt_at == START  # no group: no wrap-up to wait for
    [delivery, _] = store.claim_due(START, 10, 60)
    assert delivery.record.disposition == "Follow-up"
    assert delivery.record.notes == (
        "Alice Archer: Caller wants a callback.\n\nbob: Warm transfer from me."
    )


def test_a_second_end_queues_nothing(store: Store) -> None:
    call = record(CALL)
    assert store.end_call(call, ["builtin", "salesforce"]) is True
    assert store.end_call(call, ["builtin", "salesforce"]) is False
    assert store.end_call(replace(call, notes="changed"), ["builtin", "other"]) is False
    assert len(store.outbox_entries()) == 2
    assert store.end_call(record("lab:2"), []) is False
    assert store.end_call(record("lab:2"), ["builtin", "builtin"]) is True
    assert len(store.outbox_entries()) == 3


def test_calls_ended_together_are_queued_in_one_transaction_with_their_own_notes(
    store: Store,
) -> None:
    """The record writer's batch: each record gets its own notes, its own wrap-up and a row per
    connector; a call queued before, or twice in the batch, is queued once; live rows go."""
    store.create_agent("alice", display_name="Alice Archer")
    store.save_notes("lab:1", "alice", "first call", "Sale")
    store.save_notes("lab:3", "alice", "third call")
    store.save_live_calls({f"lab:{n}": {"server": "lab", "n": n} for n in (1, 2, 3)})
    assert store.end_call(record("lab:2"), ["builtin"]) is True  # ended before the batch

    queued = store.end_calls(
        [(record("lab:1"), 30), (record("lab:2"), None), (record("lab:3"), 0),
         (record("lab:1"), 0)],
        ["builtin", "salesforce"],
    )  # fmt: skip

    assert queued == [True, False, True, False]
    rows = {(r.call_id, r.connector): r for r in store.outbox_entries()}
    assert sorted(rows) == [
        ("lab:1", "builtin"), ("lab:1", "salesforce"), ("lab:2", "builtin"),
        ("lab:3", "builtin"), ("lab:3", "salesforce"),
    ]  # fmt: skip
    assert rows["lab:1", "builtin"].next_attempt_at == START + timedelta(seconds=30)
    assert rows["lab:3", "salesforce"].next_attempt_at == START
    due = {d.record.call_id: d.record for d in store.claim_due(START + timedelta(days=1), 10, 60)}
    assert (due["lab:1"].notes, due["lab:1"].disposition) == ("first call", "Sale")
    assert (due["lab:3"].notes, due["lab:3"].disposition) == ("third call", None)
    assert store.live_calls() == []


def test_connectors_must_be_a_list(store: Store) -> None:
    with pytest.raises(ValidationFailed):
        store.end_call(record(), "builtin")


def test_delivery_waits_for_wrap_up_and_takes_late_notes(store: Store, clock: FakeClock) -> None:
    store.create_agent("alice")
    store.create_group(GroupSpec("Support", wrapup_seconds=30, queues=("support",)))
    store.save_notes(CALL, "alice", "Started typing", None)

    store.end_call(record(CALL, queue="support", answered_by="alice"), ["builtin"])
    [row] = store.outbox_entries()
    assert row.next_attempt_at == START + timedelta(seconds=30)
    assert store.claim_due(START, 10, 60) == []  # still wrapping up

    clock.advance(20)
    store.save_notes(CALL, "alice", "Started typing, then finished.", "Resolved")
    [delivery] = store.claim_due(START + timedelta(seconds=30), 10, 60)

    assert delivery.record.notes == "Started typing, then finished."
    assert delivery.record.disposition == "Resolved"


def test_unanswered_calls_do_not_wait_for_wrap_up(store: Store) -> None:
    store.create_group(GroupSpec("Support", wrapup_seconds=30, queues=("support",)))
    store.end_call(record(CALL, answered_by=None, answered_at=None), ["builtin"])
    assert store.outbox_entries()[0].next_attempt_at == START


async def test_the_async_store_runs_its_methods_on_its_threads(store: Store) -> None:
    assert await store.aio.run(store.end_call, record(CALL), ["builtin"]) is True
    assert await store.aio.run(store.end_call, record(CALL), ["builtin"]) is False
    await store.aio.run(store.save_notes, "lab:3", "alice", "hello")
    assert [n.notes for n in await store.aio.run(store.notes_for, "lab:3")] == ["hello"]
    assert store.events() == []
