"""The built-in SQL CRM: contacts, accounts, cases and call history in SQLite or PostgreSQL.

It is the default connector, for sites without a CRM of their own and for the demo. Typical
wiring in the composition root::

    migrations.upgrade(url)
    crm = BuiltinCrm.from_url(url, default_region="GB")
"""

from __future__ import annotations

from crm_connectors.builtin.connector import BuiltinCrm
from crm_connectors.builtin.engine import create_crm_engine
from crm_connectors.builtin.migrations import upgrade
from crm_connectors.builtin.seed import seed_bulk, seed_demo

__all__ = ["BuiltinCrm", "create_crm_engine", "seed_bulk", "seed_demo", "upgrade"]
