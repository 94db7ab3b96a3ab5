"""Databases for the CRM tests: a SQLite file per test, and a fresh PostgreSQL database per test.

Tests that take ``db_url`` (or a fixture built on it) run once on each backend; the PostgreSQL
run is marked ``postgres`` and skipped, with the reason, when nothing answers on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm_connectors.base import RecordRef
from crm_connectors.builtin import BuiltinCrm, seed_demo, upgrade

REGION = "GB"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the demo's "now": its dates are offsets
# postgres_server and postgres_url come from tests/conftest.py.


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
