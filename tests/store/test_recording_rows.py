"""The recording tables of migration s0011 in use, on SQLite and PostgreSQL: policies saved
twice (update, then insert), rows with their paused spans (JSON), ending, deletion and the
group's latest first; the check constraints refuse what the service would never write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from cti.recording import rows
from cti.recording.rows import GroupPolicy, Policy, RecordingRow
from cti.recording.tables import recording_policies
from cti.store import migrations
from cti.store.engine import create_store_engine

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_recording_rows_round_trip(store_url: str) -> None:
    migrations.upgrade(store_url)
    engine = create_store_engine(store_url)
    try:
        with engine.begin() as conn:
            rows.save_policy(conn, GroupPolicy("Sales", Policy.ALWAYS, False, 30), T0)
            rows.save_policy(conn, GroupPolicy("Sales", Policy.DEMAND, True, 7), T0)
            rows.save_policy(conn, GroupPolicy("Support"), T0)
            for i in range(3):
                rows.insert_recording(conn, RecordingRow(
                    f"rec-{i}", f"call-{i}", "lab", "alice", "Sales",
                    T0 + timedelta(minutes=i), None, (), None,
                ))  # fmt: skip
            rows.set_pauses(conn, "rec-1", ((1.5, 3.25), (10.0, None)))
            rows.end_recording(conn, "rec-1", T0 + timedelta(minutes=2))
            rows.mark_deleted(conn, "rec-0", T0 + timedelta(days=31))
        with engine.connect() as conn:
            policies = rows.all_policies(conn)
            one = rows.get_recording(conn, "rec-1")
            latest = rows.recent_of_group(conn, "Sales", 2)
            old = rows.live_before(conn, T0 + timedelta(minutes=5))
    finally:
        engine.dispose()
    assert policies == {
        "Sales": GroupPolicy("Sales", Policy.DEMAND, True, 7),
        "Support": GroupPolicy("Support", Policy.NEVER, True, 90),
    }
    assert one is not None and one.pauses == ((1.5, 3.25), (10.0, None))
    assert one.ended_at == T0 + timedelta(minutes=2)
    assert [r.id for r in latest] == ["rec-2", "rec-1"]
    assert sorted(r.id for r in old) == ["rec-1", "rec-2"]  # rec-0's file is gone


def test_the_policy_constraints_hold(store_url: str) -> None:
    migrations.upgrade(store_url)
    engine = create_store_engine(store_url)
    try:
        for bad in ({"policy": "maybe"}, {"retention_days": 0}):
            values = {"group_name": "Sales", "updated_at": T0, **bad}
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(insert(recording_policies).values(**values))
    finally:
        engine.dispose()
