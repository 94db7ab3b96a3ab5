"""Alembic migrations of the daemon's store, run from Python (:mod:`cti.sqlmigrations`).

:meth:`cti.store.Store.upgrade` (or :func:`upgrade`) runs them at install time or when the
daemon starts; it is idempotent and fast when the schema is current. The store keeps its version
in ``cti_alembic_version`` and only ever looks at its own tables, so it can share a database with
the built-in CRM (``crm_*`` tables, ``crm_alembic_version``).

To write the next migration after changing :mod:`cti.store.models`::

    from cti.store import migrations
    migrations.make_revision("sqlite:///var/store-dev.sqlite3", "add agents.phone")

then review the generated file in ``versions/`` (and rename it ``sNNNN_<what>.py``).
"""

from __future__ import annotations

from pathlib import Path

from cti.errors import StoreError
from cti.sqlmigrations import Migrations
from cti.store.engine import create_store_engine, translated_errors
from cti.store.models import metadata

__all__ = [
    "CONTEXT_OPTIONS",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_revision",
    "upgrade",
]

VERSION_TABLE = "cti_alembic_version"

_STORE = Migrations(
    what="store",
    directory=Path(__file__).resolve().parent,
    metadata=metadata,
    version_table=VERSION_TABLE,
    include_table=lambda name: name in metadata.tables,
    engine_for=lambda url: create_store_engine(url, pool_size=1),
    translated_errors=translated_errors,
    failure=StoreError,
)

#: Options for every Alembic MigrationContext on the store schema (env.py and the schema test).
CONTEXT_OPTIONS = _STORE.context_options
alembic_config = _STORE.alembic_config
upgrade = _STORE.upgrade
current_revision = _STORE.current_revision
head_revision = _STORE.head_revision
make_revision = _STORE.make_revision
