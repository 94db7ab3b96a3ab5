"""The site settings table, on the store's MetaData (created by migration s0013).

One row per setting an admin chose in the admin console (or setup); a setting without a row
falls back to the configuration file's value. ``value`` is JSON so later settings need no
migration; ``updated_by`` is who set it (also in the audit history).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, String, Table

from cti.sqltypes import UtcDateTime
from cti.store.models import metadata

__all__ = ["site_settings"]

site_settings = Table(
    "site_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(64)),
)
