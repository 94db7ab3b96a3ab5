"""Hostile caller IDs, and databases that are gone, locked or slow: translated, never leaked."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from crm_connectors.base import MatchCount, NewContact, RecordRef
from crm_connectors.builtin import BuiltinCrm, create_crm_engine, seed_demo, upgrade
from crm_connectors.builtin.rows import RefMaker
from crm_connectors.builtin.search import search_records
from cti.errors import ConfigError, CrmError, CrmTimeout, CrmUnavailable
from tests.crm.conftest import REGION
from tests.crm.test_builtin_writes import RECORD

HOSTILE_CALLER_IDS = [
    "' OR 1=1 --",
    "1' OR '1'='1",
    "+44 20 7946 0001'; DROP TABLE crm_contacts; --",
    "%",
    "_",
    "%%",
    "\x00",
    "+4420794\x0060001",
    "9" * 100_000,
    "+" + "4" * 64,
    "<script>alert(1)</script>",
    "\ud800\udfff",
    "".join(chr(0x1D7D8 + int(d)) for d in "02079460001"),  # double-struck digits
    "\n\r\t",
]


@pytest.mark.parametrize("caller_id", HOSTILE_CALLER_IDS)
async def test_hostile_caller_ids_match_nobody(crm: BuiltinCrm, caller_id: str) -> None:
    result = await crm.lookup(caller_id)
    assert result.match_count is MatchCount.NONE
    assert result.number == caller_id
    assert (await crm.lookup("+442079460001")).single is not None  # and nothing was harmed


@pytest.fixture(scope="module")
def sqlite_demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = create_crm_engine(f"sqlite:///{tmp_path_factory.mktemp('hostile')}/crm.sqlite3")
    upgrade(engine)
    seed_demo(engine, REGION)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_demo(sqlite_demo_engine: Engine) -> Iterator[BuiltinCrm]:
    crm = BuiltinCrm(sqlite_demo_engine, default_region=REGION)
    yield crm
    crm.close_sync()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_lookup_of_any_text_never_raises(sqlite_demo: BuiltinCrm, caller_id: str) -> None:
    result = sqlite_demo.lookup_sync(caller_id)
    assert result.e164 is None or result.e164.startswith("+")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_search_of_any_text_never_raises(sqlite_demo_engine: Engine, query: str) -> None:
    with sqlite_demo_engine.connect() as conn:
        hits = search_records(conn, query, 20, RefMaker("builtin"), REGION)
    assert len(hits) <= 20


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def unreachable() -> AsyncIterator[BuiltinCrm]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{unused_port()}/crm"
    crm = BuiltinCrm.from_url(url, default_region=REGION, connect_timeout=1)
    yield crm
    await crm.close()


async def test_an_unreachable_server_is_unavailable_for_every_operation(
    unreachable: BuiltinCrm,
) -> None:
    operations = [
        unreachable.lookup("+442079460001"),
        unreachable.search("alice"),
        unreachable.history("+442079460001"),
        unreachable.log_call(RECORD),
        unreachable.link_number("+442079460001", RecordRef("builtin", "contact", "1")),
        unreachable.create_contact(NewContact("A", "B")),
    ]
    for operation in operations:
        with pytest.raises(CrmUnavailable) as caught:
            await operation
        assert isinstance(caught.value.__cause__, sa_exc.OperationalError)
        assert caught.value.status == 503
        assert caught.value.error_id == "crm.unavailable"
        details = caught.value.details
        assert details["error"] == "OperationalError"
        assert "SELECT" not in str(details)


async def test_junk_needs_no_database(unreachable: BuiltinCrm) -> None:
    assert (await unreachable.lookup("anonymous")).match_count is MatchCount.NONE


def test_migrating_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(CrmUnavailable):
        upgrade(f"postgresql://postgres@127.0.0.1:{unused_port()}/crm")


async def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    crm = BuiltinCrm.from_url(f"sqlite:///{tmp_path}/missing/dir/crm.sqlite3", default_region="GB")
    async with crm:
        with pytest.raises(CrmUnavailable):
            await crm.lookup("+442079460001")


async def test_a_database_without_the_schema_is_an_error_not_an_outage(db_url: str) -> None:
    async with BuiltinCrm.from_url(db_url, default_region="GB") as crm:
        with pytest.raises(CrmError) as caught:
            await crm.lookup("+442079460001")
    assert not isinstance(caught.value, CrmUnavailable)  # retrying will not help; migrating will
    assert "upgrade" in str(caught.value.details["hint"])


@pytest.fixture
def locked_sqlite(demo_url: str) -> Iterator[str]:
    """Hold SQLite's write lock from another connection while the test runs."""
    if not demo_url.startswith("sqlite"):
        pytest.skip("SQLite locking")
    holder = sqlite3.connect(demo_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield demo_url
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_write_that_waits_past_the_timeout_is_a_timeout(locked_sqlite: str) -> None:
    crm = BuiltinCrm.from_url(locked_sqlite, default_region=REGION, timeout=0.2, connect_timeout=2)
    async with crm:
        with pytest.raises(CrmTimeout) as caught:
            await crm.log_call(RECORD)
        assert caught.value.status == 504
        assert caught.value.details["operation"] == "log_call"
        lookup = await crm.lookup("+442079460001")  # readers are not blocked by the writer
        assert lookup.single is not None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_write_lock_held_past_busy_timeout_is_unavailable(locked_sqlite: str) -> None:
    crm = BuiltinCrm.from_url(locked_sqlite, default_region=REGION, connect_timeout=0.1)
    async with crm:
        with pytest.raises(CrmUnavailable) as caught:
            await crm.log_call(RECORD)
        assert "locked" in str(caught.value.details["reason"])


async def test_a_closed_connector_refuses_work(crm: BuiltinCrm) -> None:
    await crm.close()
    await crm.close()  # closing twice is fine
    with pytest.raises(CrmError):
        await crm.lookup("+442079460001")
    with pytest.raises(CrmError):
        crm.lookup_sync("+442079460001")


def test_bad_configuration_is_refused_loudly() -> None:
    engine = create_crm_engine("sqlite://")
    try:
        with pytest.raises(ConfigError):
            BuiltinCrm(engine, default_region="XX")
        with pytest.raises(ConfigError):
            BuiltinCrm(engine, default_region="GB", max_workers=0)
    finally:
        engine.dispose()
    with pytest.raises(ConfigError):
        create_crm_engine("mysql://root@localhost/crm")
