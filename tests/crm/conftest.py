"""Databases for the CRM tests: a SQLite file per test, and a fresh PostgreSQL database per test.

Tests that take ``db_url`` (or a fixture built on it) run once on each backend; the PostgreSQL
run is marked ``postgres`` and skipped, with the reason, when nothing answers on loopback.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from crm_connectors.base import RecordRef
from crm_connectors.builtin import BuiltinCrm, seed_demo, upgrade

REGION = "GB"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the demo's "now": its dates are offsets
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres connect_timeout=3"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Return the admin DSN, or skip when PostgreSQL is not reachable."""
    try:
        with psycopg.connect(PG_ADMIN_DSN) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}")
    return PG_ADMIN_DSN


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it (even if still connected)."""
    name = f"crm_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/crm.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def demo_url(migrated_url: str) -> str:
    seed_demo(migrated_url, REGION, now=NOW)
    return migrated_url


@pytest.fixture
async def crm(demo_url: str) -> AsyncIterator[BuiltinCrm]:
    """The built-in CRM holding the demo data."""
    connector = BuiltinCrm.from_url(demo_url, default_region=REGION)
    try:
        yield connector
    finally:
        await connector.close()


async def contact_ref(crm: BuiltinCrm, number: str) -> RecordRef:
    """Return the reference of the one contact on ``number``."""
    result = await crm.lookup(number)
    match = result.single
    assert match is not None, result
    assert match.contact is not None, result
    return match.contact.ref
