"""The site setup's tables (:mod:`cti.site`): locations with their emergency address, numbers
and their porting, devices by MAC, signup tokens, and where the setup wizard stands.

They live on the store's one MetaData (imported by :mod:`cti.store`), so the migrations and the
schema test see them; only :mod:`cti.site` and the config generator's reads touch them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from cti.sqltypes import UtcDateTime
from cti.store.models import agents, metadata

__all__ = [
    "signup_tokens",
    "site_devices",
    "site_locations",
    "site_numbers",
    "site_progress",
]

# A place people work from. ``address`` is where it is; ``emergency`` the address emergency
# services are sent to (street, city, region, postal code, country, floor/room), and
# ``callback`` the E.164 number they call back, presented on emergency calls from its devices.
site_locations = Table(
    "site_locations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("address", JSON, nullable=False),
    Column("emergency", JSON, nullable=False),
    Column("callback", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Numbers (DIDs) of the site, and where each stands with the carrier it is ported from.
site_numbers = Table(
    "site_numbers",
    metadata,
    Column("number", String(32), primary_key=True),  # E.164 without the plus, as group_dids
    Column("location_id", ForeignKey(site_locations.c.id, ondelete="SET NULL")),
    Column("status", String(16), nullable=False),
    Column("due_date", String(10)),  # ISO date the port is due (porting)
    Column("reason", Text),  # why the port failed (failed)
    Column("loa_name", String(200)),  # the letter of authorisation (porting)
    Column("loa_type", String(64)),
    Column("loa", LargeBinary),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('active', 'porting', 'failed')", name="status"),
    Index(None, "location_id"),
)

# Phones by MAC. ``sip_secret`` is sealed (cti.secretbox): the provisioning file carries it in
# the clear. ``provision_ha1`` is MD5(mac:realm:secret) of the secret the phone proves itself
# with when it fetches that file (RFC 7616 digest); the secret itself is shown once.
site_devices = Table(
    "site_devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mac", String(12), nullable=False, unique=True),  # 12 lower-case hex digits
    Column("model", String(64), nullable=False),
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), nullable=False),
    Column("location_id", ForeignKey(site_locations.c.id, ondelete="RESTRICT"), nullable=False),
    Column("sip_secret", Text, nullable=False),
    Column("provision_ha1", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "agent_id"),
    Index(None, "location_id"),
)

# One-time signup links. Only the SHA-256 of a token is kept; ``session_hash`` binds it to the
# browser session that first opened it. ``download_hash`` is the SHA-256 of the short-lived,
# single-use token a mobile softphone fetches its provisioning document with (asked for by
# that session; a new one replaces the last).
signup_tokens = Table(
    "signup_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("agent_id", ForeignKey(agents.c.id, ondelete="CASCADE"), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("opened_at", UtcDateTime),
    Column("session_hash", String(64)),
    Column("password_set_at", UtcDateTime),
    Column("used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Column("download_hash", String(64)),
    Column("download_expires_at", UtcDateTime),
    Index(None, "agent_id"),
    Index(None, "download_hash", unique=True),
)

# Where the setup wizard was left (one row): the console resumes there.
site_progress = Table(
    "site_progress",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("step", String(16), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
