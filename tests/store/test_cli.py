"""``cti outbox list`` and ``cti outbox retry`` against a real store file (click's CliRunner)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cti.cli import cli
from cti.store import Store
from cti.store.migrations import head_revision
from tests.store.fakes import START, FakeClock, record

LATER = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def url(migrated_sqlite_url: str) -> str:
    return migrated_sqlite_url


@pytest.fixture
def filled(url: str) -> Iterator[Store]:
    """Three calls: one delivered, one failing (stuck after 5), one new."""
    clock = FakeClock()
    store = Store(url, clock=clock.now)
    store.end_call(record("lab:1"), ["builtin"])
    store.end_call(record("lab:2"), ["builtin", "salesforce"])
    [one, two, sf] = store.claim_due(START, 10, 60)
    store.mark_delivered(one.id, "crm-1", START)
    for attempt in range(1, 6):
        store.mark_failed(sf.id, f"crm.unavailable: attempt {attempt} " + "x" * 80, START, START)
    store.retry_outbox([two.id])
    clock.advance(3600)
    store.end_call(record("lab:3"), ["builtin"])
    try:
        yield store
    finally:
        store.close()


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["outbox", *args], env={"CTI_STORE__URL": url, "CTI_CONFIG": None}
    )


def test_list_shows_what_is_waiting(url: str, filled: Store) -> None:
    result = run(url, "list")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "ID",
        "CALL",
        "ID",
        "CONNECTOR",
        "ATTEMPTS",
        "NEXT",
        "ATTEMPT",
        "LAST",
        "ERROR",
    ]
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["lab:2", "builtin"],
        ["lab:2", "salesforce"],
        ["lab:3", "builtin"],
    ]
    assert "5!" in lines[2]  # stuck (store.outbox.stuck_after = 5)
    assert "crm.unavailable: attempt 5 xxx" in lines[2]
    assert lines[2].endswith("…")
    assert "2026-11-20 10:00:00" in lines[3]


def test_list_stuck_and_all(url: str, filled: Store) -> None:
    stuck = run(url, "list", "--stuck")
    everything = run(url, "list", "--all")

    assert [line.split()[1:3] for line in stuck.output.splitlines()[1:]] == [
        ["lab:2", "salesforce"]
    ]
    assert "delivered 2026-11-20 09:00:00" in everything.output
    assert len(everything.output.splitlines()) == 5


def test_list_as_json(url: str, filled: Store) -> None:
    result = run(url, "list", "--json", "--stuck")

    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["call_id"] == "lab:2"
    assert row["connector"] == "salesforce"
    assert row["attempts"] == 5
    assert row["last_error"].startswith("crm.unavailable: attempt 5")
    assert row["next_attempt_at"] == "2026-11-20T09:00:00+00:00"
    assert row["delivered_at"] is None


def test_retry_one_or_all(url: str, filled: Store) -> None:
    [row] = filled.outbox_entries(call_id="lab:3")
    filled.mark_failed(row.id, "crm.unavailable: down", LATER, START)

    one = run(url, "retry", str(row.id))
    assert (one.exit_code, one.output) == (0, "outbox: 1 row due now\n")
    [row] = filled.outbox_entries(call_id="lab:3")
    assert row.next_attempt_at <= datetime.now(UTC)  # due now, not in a century

    every = run(url, "retry", "--all")
    assert (every.exit_code, every.output) == (0, "outbox: 3 rows due now\n")
    assert [e.details for e in filled.events(kind="outbox.retry")] == [
        {"id": None, "rows": 3, "via": "cli"},
        {"id": row.id, "rows": 1, "via": "cli"},
    ]


def test_retry_refuses_bad_requests(url: str, filled: Store) -> None:
    delivered = filled.outbox_entries(call_id="lab:1", include_delivered=True)[0]

    assert run(url, "retry").exit_code == 2
    assert run(url, "retry", "1", "--all").exit_code == 2
    gone = run(url, "retry", str(delivered.id))
    assert gone.exit_code == 2
    assert f"no undelivered outbox row {delivered.id}" in gone.output


def test_an_empty_outbox(url: str) -> None:
    result = run(url, "list")
    assert (result.exit_code, result.output) == (0, "outbox: nothing waiting\n")


def test_a_missing_or_unmigrated_store_is_explained(tmp_path: Path) -> None:
    missing = run(f"sqlite:///{tmp_path}/nope.sqlite3", "list")
    assert missing.exit_code == 2
    assert "there is no store at" in missing.output
    assert not (tmp_path / "nope.sqlite3").exists()  # and none was created

    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    old = run(f"sqlite:///{empty}", "list")
    assert old.exit_code == 2
    assert f"schema revision (none), this version needs {head_revision()}" in old.output
