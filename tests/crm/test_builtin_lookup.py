"""Caller-ID lookup and call history on the demo CRM, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import create_engine
from sqlalchemy import exc as sa_exc

from crm_connectors.base import LookupOptions, MatchCount, MatchKind, RecordRef
from crm_connectors.builtin import BuiltinCrm, seed_demo, upgrade
from cti.core.records import CrmMatch, Direction, Outcome
from cti.errors import NotFound, ValidationFailed
from tests.crm.conftest import NOW, REGION, contact_ref
from tests.crm.test_builtin_writes import RECORD


async def test_one_match_brings_account_phones_open_cases_and_history(crm: BuiltinCrm) -> None:
    result = await crm.lookup("020 7946 0001")

    assert (result.number, result.e164, result.match_count) == (
        "020 7946 0001",
        "+442079460001",
        MatchCount.ONE,
    )
    match = result.single
    assert match is not None
    assert match.contact is not None
    assert match.kind is MatchKind.CONTACT
    assert match.display_name == "Alice Archer"
    assert match.contact.email == "alice.archer@globex.example"
    assert match.contact.phones == ("+442079460001", "+442079460002")  # main number first
    assert match.account is not None
    assert match.account == match.contact.account
    assert match.account.name == "Globex Corporation"
    assert match.account.phone == "+442079460000"
    # CS-1003 is closed; the open ones come newest first.
    assert [case.number for case in match.open_cases] == ["CS-1001", "CS-1002"]
    assert match.open_cases[0].opened_at.tzinfo is not None
    assert match.open_cases[0].owner_name == "Priya Shah"
    assert [call.call_id for call in match.history] == ["demo:1001", "demo:1002", "demo:1003"]
    assert match.history[0].agent == "Sam Patel"
    assert match.history[0].notes == "Walked her through the conveyor reset."
    assert match.history[2].direction is Direction.OUTBOUND
    assert match.history[1].outcome is Outcome.MISSED
    assert result.crm_matches() == (CrmMatch("builtin", "contact", match.contact.ref.record_id),)


async def test_either_number_of_a_contact_finds_it(crm: BuiltinCrm) -> None:
    mobile = await crm.lookup("+44 20 7946 0001")
    work = await crm.lookup("tel:+44-20-7946-0002")
    assert mobile.single is not None
    assert work.single is not None
    assert mobile.single.ref == work.single.ref


async def test_a_shared_line_matches_several_contacts(crm: BuiltinCrm) -> None:
    result = await crm.lookup("02079460010")

    assert result.match_count is MatchCount.SEVERAL
    assert result.single is None
    assert [match.display_name for match in result.matches] == ["Bob Baker", "Carol Carter"]
    bob, carol = result.matches
    assert [case.number for case in bob.open_cases] == ["CS-1004"]
    assert carol.open_cases == ()  # her only case is closed
    assert [call.call_id for call in carol.history] == ["demo:1004"]  # called from the line


async def test_the_switchboard_number_matches_the_account(crm: BuiltinCrm) -> None:
    result = await crm.lookup("+44 20 7946 0000")

    match = result.single
    assert match is not None
    assert match.kind is MatchKind.ACCOUNT
    assert match.contact is None
    assert match.account is not None
    assert match.display_name == "Globex Corporation"
    assert {case.number for case in match.open_cases} == {
        "CS-1001",
        "CS-1002",
        "CS-1004",
        "CS-1015",
    }


async def test_a_us_number_in_a_uk_deployment(crm: BuiltinCrm) -> None:
    result = await crm.lookup("+1 (202) 555-0101")
    assert result.single is not None
    assert result.single.display_name == "Frank Foster"
    assert [case.status for case in result.single.open_cases] == ["Pending"]


@pytest.mark.parametrize("number", ["+44 20 7946 0999", "+1 202 555 0199", "07700 900123"])
async def test_an_unknown_number_matches_nobody(crm: BuiltinCrm, number: str) -> None:
    result = await crm.lookup(number)
    assert result.e164 is not None
    assert result.match_count is MatchCount.NONE
    assert result.matches == ()


@pytest.mark.parametrize("number", ["", "anonymous", "<unknown>", "123", "Restricted"])
async def test_a_number_that_does_not_parse_matches_nobody(crm: BuiltinCrm, number: str) -> None:
    result = await crm.lookup(number)
    assert (result.number, result.e164, result.matches) == (number, None, ())
    assert crm.lookup_sync(number) == result


async def test_options_limit_matches_history_and_cases(crm: BuiltinCrm) -> None:
    options = LookupOptions(max_matches=1, max_history=0, max_open_cases=0)
    result = await crm.lookup("02079460010", options)
    assert [match.display_name for match in result.matches] == ["Bob Baker"]
    assert result.matches[0].history == ()
    assert result.matches[0].open_cases == ()

    alice = (await crm.lookup("02079460001", LookupOptions(max_history=2, max_open_cases=1))).single
    assert alice is not None
    assert [call.call_id for call in alice.history] == ["demo:1001", "demo:1002"]
    assert [case.number for case in alice.open_cases] == ["CS-1001"]


async def test_open_statuses_are_configurable_and_case_insensitive(crm: BuiltinCrm) -> None:
    closed = LookupOptions(open_case_statuses=("CLOSED",))
    alice = (await crm.lookup("02079460001", closed)).single
    assert alice is not None
    assert [case.number for case in alice.open_cases] == ["CS-1003"]

    nothing = (await crm.lookup("02079460001", LookupOptions(open_case_statuses=()))).single
    assert nothing is not None
    assert nothing.open_cases == ()


async def test_markup_in_names_comes_back_verbatim(crm: BuiltinCrm) -> None:
    match = (await crm.lookup("+44 20 7946 0666")).single
    assert match is not None
    assert match.contact is not None
    assert match.contact.first_name == "<script>alert(1)</script>"
    assert match.contact.last_name == "<img src=x onerror=alert(1)>"
    assert match.open_cases[0].subject == "<b>Urgent</b> refund"
    assert match.history[0].notes == "<script>alert('notes')</script>"


async def test_history_of_a_number_is_newest_first_and_limited(crm: BuiltinCrm) -> None:
    calls = await crm.history("+44 20 7946 0101")
    assert [call.call_id for call in calls] == ["demo:1006", "demo:1005"]
    assert calls[0].started_at > calls[1].started_at
    assert (calls[0].direction, calls[0].outcome) == (Direction.OUTBOUND, Outcome.BUSY)

    alice = await crm.history("020 7946 0001")
    assert [call.call_id for call in alice] == ["demo:1001", "demo:1003"]
    assert [call.call_id for call in await crm.history("020 7946 0001", limit=1)] == ["demo:1001"]
    assert alice[0].started_at < NOW
    assert alice[0].started_at.utcoffset() is not None


async def test_history_of_junk_or_nothing_is_empty(crm: BuiltinCrm) -> None:
    assert await crm.history("' OR 1=1 --") == []
    assert await crm.history("+44 20 7946 0001", limit=0) == []
    assert await crm.history("+44 20 7946 0777") == []


async def test_history_of_a_contact_covers_all_its_numbers(crm: BuiltinCrm) -> None:
    alice = await contact_ref(crm, "+442079460001")
    calls = await crm.history(alice)
    assert [call.call_id for call in calls] == ["demo:1001", "demo:1002", "demo:1003"]
    assert len(await crm.history(alice, limit=2)) == 2


async def test_history_of_an_account_and_of_foreign_records(crm: BuiltinCrm) -> None:
    globex = (await crm.lookup("+442079460000")).single
    assert globex is not None
    assert await crm.history(globex.ref) == []  # nobody rang the switchboard

    salesforce = RecordRef("salesforce", "Contact", "003000000000001")
    assert await crm.history(salesforce) == []


async def test_history_of_a_missing_record_is_not_found(crm: BuiltinCrm) -> None:
    with pytest.raises(NotFound):
        await crm.history(RecordRef("builtin", "contact", "999999"))
    with pytest.raises(NotFound):
        await crm.history(RecordRef("builtin", "account", "not-a-number"))


async def test_a_linked_number_matches_from_then_on(crm: BuiltinCrm) -> None:
    ivan = await contact_ref(crm, "+44 20 7946 0300")
    assert (await crm.lookup("+44 20 7946 0999")).match_count is MatchCount.NONE

    await crm.link_number("020 7946 0999", ivan)

    match = (await crm.lookup("+44 20 7946 0999")).single
    assert match is not None
    assert match.contact is not None
    assert match.contact.ref == ivan
    assert match.contact.phones == ("+442079460300", "+442079460999")
    # The call from that number before it was linked now shows in his history.
    assert [call.call_id for call in match.history] == ["demo:1008"]


async def test_record_urls_follow_the_template(demo_url: str) -> None:
    crm = BuiltinCrm.from_url(
        demo_url,
        default_region=REGION,
        name="crm",
        record_url="https://crm.example/{object_type}/{record_id}",
    )
    async with crm:
        match = (await crm.lookup("+442079460001")).single
        assert match is not None
        assert match.ref.system == "crm"
        assert match.ref.url == f"https://crm.example/contact/{match.ref.record_id}"
        assert match.account is not None
        assert match.account.ref.url is not None


async def test_refs_of_other_systems_are_refused_for_writes(crm: BuiltinCrm) -> None:
    with pytest.raises(ValidationFailed):
        await crm.link_number("+442079460999", RecordRef("salesforce", "contact", "1"))


@contextlib.contextmanager
def _writes_held(url: str) -> Iterator[None]:
    """Hold the call table's write lock from another connection: every CRM write waits."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # readers go on (WAL), writers wait
            else:
                conn.begin()  # inserts wait, reads go on
                conn.exec_driver_sql("LOCK TABLE crm_calls IN SHARE ROW EXCLUSIVE MODE")
            yield
            conn.exec_driver_sql("ROLLBACK") if url.startswith("sqlite") else conn.rollback()
    finally:
        engine.dispose()


async def test_a_lookup_does_not_wait_behind_call_records_holding_every_worker(
    demo_url: str,
) -> None:
    """A pop's lookup has threads of its own: four call records (the outbox's concurrency)
    waiting on the database's write lock hold every other worker, and the caller is still found."""
    crm = BuiltinCrm.from_url(demo_url, default_region=REGION, max_workers=4)
    try:
        with _writes_held(demo_url):
            writes = [
                asyncio.create_task(crm.log_call(replace(RECORD, call_id=f"pbx1:held.{n}")))
                for n in range(4)
            ]
            await asyncio.sleep(0.2)  # each has taken a worker and waits on the lock
            async with asyncio.timeout(3):
                result = await crm.lookup("+442079460001")
            assert [w.done() for w in writes] == [False] * 4  # found while they still wait
            assert result.matches
        assert len({await w for w in writes}) == 4  # and each record is written once released
    finally:
        await crm.close()


@contextlib.contextmanager
def _lookup_threads_held(crm: BuiltinCrm) -> Iterator[threading.Event]:
    """Keep both lookup threads busy until the event is set (or the block ends)."""
    release = threading.Event()
    held = [crm._lookup_executor.submit(release.wait, 10) for _ in range(2)]
    try:
        yield release
    finally:
        release.set()
        for future in held:
            future.result()


async def test_a_sqlite_lookup_runs_on_the_loop_a_postgresql_one_on_its_threads(
    demo_url: str,
) -> None:
    """On a SQLite file the lookup needs no thread (no hop there and back); on PostgreSQL, a
    network round trip, it never runs on the loop."""
    crm = BuiltinCrm.from_url(demo_url, default_region=REGION)
    try:
        with _lookup_threads_held(crm) as release:
            lookup = asyncio.create_task(crm.lookup("020 7946 0001"))
            await asyncio.sleep(0.3)
            assert lookup.done() is demo_url.startswith("sqlite")
            release.set()
            async with asyncio.timeout(5):
                result = await lookup
        assert result.single is not None and result.single.display_name == "Alice Archer"
    finally:
        await crm.close()


async def test_a_lookup_sqlite_refuses_on_the_loop_is_made_on_a_thread(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never waits for a lock: refused ("database is locked", as a
    writer's checkpoint can make a WAL reader), the lookup waits for it on a lookup thread."""
    upgrade(sqlite_url)
    seed_demo(sqlite_url, REGION, now=NOW)
    crm = BuiltinCrm.from_url(sqlite_url, default_region=REGION)
    refused: list[str] = []

    def locked(e164: str, *_: object) -> tuple[()]:
        refused.append(e164)
        raise sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    try:
        assert crm._inline is not None
        monkeypatch.setattr(crm._inline, "lookup", locked)
        result = await crm.lookup("+442079460001")
        assert refused == ["+442079460001"]
        assert result.single is not None and result.single.display_name == "Alice Archer"
    finally:
        await crm.close()
