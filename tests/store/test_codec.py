"""CallRecord <-> JSON: every record survives the round trip; malformed payloads are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.core.records import CallRecord, CrmMatch, Direction, Outcome
from cti.errors import ValidationFailed
from cti.store import record_from_json, record_to_json
from tests.store.fakes import record

utc_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
texts = st.text(max_size=40)
records = st.builds(
    CallRecord,
    call_id=texts,
    server=texts,
    direction=st.sampled_from(Direction),
    outcome=st.sampled_from(Outcome),
    started_at=utc_times,
    ended_at=utc_times,
    caller_number=texts,
    called_number=texts,
    caller_name=texts,
    answered_at=st.none() | utc_times,
    did=st.none() | texts,
    trunk=st.none() | texts,
    queue=st.none() | texts,
    wait_seconds=st.none() | st.floats(0, 1e6),
    talk_seconds=st.floats(0, 1e6),
    hold_seconds=st.floats(0, 1e6),
    agents_rung=st.lists(texts, max_size=4).map(tuple),
    answered_by=st.none() | texts,
    notes=st.text(max_size=200),
    disposition=st.none() | texts,
    matches=st.lists(st.builds(CrmMatch, texts, texts, texts), max_size=3).map(tuple),
    flags=st.lists(texts, max_size=3).map(tuple),
)


@given(records)
def test_any_record_survives_json(original: CallRecord) -> None:
    encoded = json.dumps(record_to_json(original))
    assert record_from_json(json.loads(encoded)) == original


def test_the_format_is_plain_json() -> None:
    call = record(
        matches=(CrmMatch("builtin", "contact", "7"),),
        flags=("transferred",),
        disposition="Resolved",
    )

    data = record_to_json(call)

    assert data["v"] == 1
    assert data["direction"] == "inbound"
    assert data["outcome"] == "answered"
    assert data["started_at"] == "2026-11-20T08:55:00+00:00"
    assert data["agents_rung"] == ["alice", "bob"]
    assert data["matches"] == [["builtin", "contact", "7"]]
    assert data["flags"] == ["transferred"]
    assert json.loads(json.dumps(data)) == data


def test_other_zones_are_stored_as_utc() -> None:
    paris = timezone(timedelta(hours=1))
    call = record(started_at=datetime(2026, 11, 20, 10, 0, tzinfo=paris))

    data = record_to_json(call)

    assert data["started_at"] == "2026-11-20T09:00:00+00:00"
    assert record_from_json(data).started_at == call.started_at


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"direction": "sideways"},
        {"started_at": "2026-11-20T09:00:00"},  # naive
        {"started_at": "2026-11-20T09:00:00+01:00"},  # not UTC
        {"talk_seconds": "long"},
        {"agents_rung": "alice"},
        {"matches": [["builtin", "contact"]]},
        {"call_id": None},
    ],
)
def test_malformed_payloads_are_refused(change: dict[str, object]) -> None:
    data = {**record_to_json(record()), **change}
    with pytest.raises(ValidationFailed):
        record_from_json(data)


def test_a_missing_field_is_refused() -> None:
    data = record_to_json(record())
    del data["ended_at"]
    with pytest.raises(ValidationFailed):
        record_from_json(data)


def test_naive_times_are_refused_when_encoding() -> None:
    with pytest.raises(ValidationFailed):
        record_to_json(record(ended_at=datetime(2026, 11, 20, 9, 0)))
