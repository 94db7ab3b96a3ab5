"""The Alembic migrations build exactly the models' schema, beside other schemas, repeatably."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from crm_connectors.builtin import create_crm_engine, upgrade
from crm_connectors.builtin.engine import writer
from crm_connectors.builtin.migrations import (
    CONTEXT_OPTIONS,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head_revision,
)
from crm_connectors.builtin.models import metadata


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(
            compare_metadata(MigrationContext.configure(conn, opts=CONTEXT_OPTIONS), metadata)
        )


def test_migrating_an_empty_database_gives_the_models_schema(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    engine = create_crm_engine(db_url)
    try:
        assert schema_differences(engine) == []
        tables = set(inspect(engine).get_table_names())
        assert tables == {table.name for table in metadata.sorted_tables} | {VERSION_TABLE}
    finally:
        engine.dispose()
    assert current_revision(db_url) == head_revision() == "0003"


def test_upgrading_again_changes_nothing(db_url: str) -> None:
    engine = create_crm_engine(db_url)
    try:
        upgrade(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_the_crm_shares_a_database_with_another_alembic_schema(db_url: str) -> None:
    engine = create_crm_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version VALUES ('daemon0007')"))
            conn.execute(text("CREATE TABLE calls (id INTEGER PRIMARY KEY, note TEXT)"))
        upgrade(engine)
        assert schema_differences(engine) == []  # the daemon's tables are none of its business
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
                ("daemon0007",)
            ]
            assert "calls" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_downgrading_to_base_removes_only_the_crm_tables(db_url: str) -> None:
    engine = create_crm_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE calls (id INTEGER PRIMARY KEY)"))
        upgrade(engine)
        with writer(engine).begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"calls", VERSION_TABLE}
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_phones_stored_before_extensions_existed_read_back_without_one(db_url: str) -> None:
    engine = create_crm_engine(db_url)
    try:
        with writer(engine).begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO crm_contacts (id, first_name, last_name, created_at) "
                    "VALUES (1, 'Old', 'Row', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO crm_contact_phones (contact_id, e164, position) "
                    "VALUES (1, '+442079460958', 0)"
                )
            )
        upgrade(engine)
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT e164, extension FROM crm_contact_phones")).all()
        assert [tuple(row) for row in rows] == [("+442079460958", None)]
    finally:
        engine.dispose()
