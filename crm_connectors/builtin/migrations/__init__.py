"""Alembic migrations of the built-in CRM's schema, run from Python (:mod:`cti.sqlmigrations`).

Call :func:`upgrade` at install time or when the daemon starts (it is idempotent and fast when
the schema is current). The CRM keeps its version in ``crm_alembic_version`` and only ever looks
at ``crm_*`` tables, so it can share a database with the daemon's own store and its migrations.

To write the next migration after changing :mod:`crm_connectors.builtin.models`::

    from crm_connectors.builtin import migrations
    migrations.make_revision("sqlite:///var/crm-dev.sqlite3", "add accounts.website")

then review the generated file in ``versions/`` (and rename it ``rNNNN_<what>.py``).
"""

from __future__ import annotations

from pathlib import Path

from crm_connectors.builtin.engine import create_crm_engine, translated_errors
from crm_connectors.builtin.models import PREFIX, metadata
from cti.errors import CrmError
from cti.sqlmigrations import Migrations

__all__ = [
    "CONTEXT_OPTIONS",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_revision",
    "upgrade",
]

VERSION_TABLE = f"{PREFIX}alembic_version"

_CRM = Migrations(
    what="CRM",
    directory=Path(__file__).resolve().parent,
    metadata=metadata,
    version_table=VERSION_TABLE,
    include_table=lambda name: name.startswith(PREFIX) and name != VERSION_TABLE,
    engine_for=lambda url: create_crm_engine(url, pool_size=1),
    translated_errors=translated_errors,
    failure=CrmError,
)

#: Options for every Alembic MigrationContext on the CRM schema (env.py and the schema test).
CONTEXT_OPTIONS = _CRM.context_options
alembic_config = _CRM.alembic_config
upgrade = _CRM.upgrade
current_revision = _CRM.current_revision
head_revision = _CRM.head_revision
make_revision = _CRM.make_revision
