"""Stores for the store tests: a SQLite file and a fresh PostgreSQL database per test.

Tests that take ``store`` (or ``store_url``) run once on each backend; the PostgreSQL run is
marked ``postgres`` (the server fixtures live in tests/conftest.py). ``store_url`` is empty;
``store`` is migrated, copied from a database migrated once per session (a PostgreSQL template,
a SQLite file) because running the migrations costs more than most tests.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql

from cti.store import Store
from cti.store.migrations import upgrade
from tests.conftest import PG_HOST, PG_PORT, PG_USER
from tests.store.fakes import FakeClock

# Cheap argon2 parameters: the tests check behaviour, not resistance to brute force.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def _pg_url(name: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def _pg(admin_dsn: str, statement: str, *names: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(*(sql.Identifier(name) for name in names)))


@pytest.fixture
def sqlite_store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend."""
    fixture = "sqlite_store_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store-template") / "store.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    name = f"cti_tmpl_{uuid.uuid4().hex[:16]}"
    _pg(postgres_server, "CREATE DATABASE {}", name)
    try:
        upgrade(_pg_url(name))
        yield name
    finally:
        _pg(postgres_server, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def migrated_postgres_url(postgres_server: str, postgres_template: str) -> Iterator[str]:
    name = f"cti_test_{uuid.uuid4().hex[:16]}"
    _pg(postgres_server, "CREATE DATABASE {} TEMPLATE {}", name, postgres_template)
    try:
        yield _pg_url(name)
    finally:
        _pg(postgres_server, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest) -> str:
    """A database at the newest schema revision, on each backend."""
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(migrated_url: str, clock: FakeClock) -> Iterator[Store]:
    """A migrated, empty store whose rows are stamped by the fake clock."""
    opened = Store(migrated_url, password_hasher=FAST_HASHER, clock=clock.now)
    try:
        yield opened
    finally:
        opened.close()
