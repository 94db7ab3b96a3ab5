"""The store's schema: created from empty by its migrations, equal to the models, and able to
share a database with the built-in CRM."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crm_connectors.builtin import upgrade as crm_upgrade
from cti.errors import ConfigError, StoreError
from cti.store import Store, migrations
from cti.store.engine import create_store_engine
from cti.store.models import metadata

TABLES = {
    "agents",
    "live_calls",
    "agent_endpoints",
    "agent_groups",
    "group_members",
    "group_supervisors",
    "group_dids",
    "group_queues",
    "call_notes",
    "outbox",
    "events",
    "agent_profiles",
    "ami_servers",
    "trunk_groups",
    "template_versions",
    "access_pools",
    "access_numbers",
    "access_reservations",
    "access_refusals",
    "access_keys",
    "access_key_windows",
    "web_sessions",
    "totp_secrets",
    "oidc_links",
    "oidc_pending",
    "oidc_sessions",
    "report_buckets",
    "recording_policies",
    "recordings",
    "missed_calls",
    "wallboard_thresholds",
    "site_locations",
    "site_numbers",
    "site_devices",
    "signup_tokens",
    "site_progress",
    "site_settings",
}


def test_upgrade_from_empty_creates_every_table(store_url: str) -> None:
    assert migrations.current_revision(store_url) is None

    migrations.upgrade(store_url)

    engine = create_store_engine(store_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert TABLES | {"cti_alembic_version"} <= names
        assert not any(name.startswith("crm_") for name in names)
        assert set(metadata.tables) == TABLES
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts=migrations.CONTEXT_OPTIONS)
            assert compare_metadata(context, metadata) == []  # migrations == models
    finally:
        engine.dispose()
    assert migrations.current_revision(store_url) == migrations.head_revision()


def test_upgrade_is_idempotent_and_shares_the_database_with_the_crm(store_url: str) -> None:
    crm_upgrade(store_url)
    migrations.upgrade(store_url)
    migrations.upgrade(store_url)
    crm_upgrade(store_url)

    engine = create_store_engine(store_url)
    try:
        names = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"cti_alembic_version", "crm_alembic_version", "crm_calls", "outbox"} <= names
    assert migrations.current_revision(store_url) == migrations.head_revision()


def test_check_schema_names_the_revisions(store_url: str) -> None:
    store = Store(store_url)
    try:
        with pytest.raises(StoreError) as caught:
            store.check_schema()
        assert caught.value.details == {"current": None, "head": migrations.head_revision()}
        store.upgrade()
        store.check_schema()
    finally:
        store.close()


def test_unsupported_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Store("mysql://localhost/cti")


def test_a_closed_store_refuses_work(sqlite_store_url: str) -> None:
    store = Store(sqlite_store_url)
    store.upgrade()
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError):
        store.agents()
