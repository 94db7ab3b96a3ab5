"""The site's settings service: the default region, stored, audited, read live.

The daemon builds one :class:`SiteSettings` and hands it, as a :class:`cti.numbers.RegionSource`,
to every part that reads numbers typed without a country code (the pop service, dial rules, the
desktop's CRM API, the built-in CRM, the site wizard): an admin's change applies to the next
number each of them reads, with no restart. The configuration file's ``[crm] default_region``
stays the value while no admin (or setup) has stored one.

Another daemon process on the same store sees a change at its next :meth:`SiteSettings.load`
(each process loads at start); this one applies it at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from cti.errors import ValidationFailed
from cti.numbers import BUILT_IN_DEFAULT_REGION, is_known_region
from cti.principal import Action, Principal, require
from cti.site_settings.tables import site_settings
from cti.store import Store, audit

__all__ = ["REGION_KEY", "RegionChoice", "SiteSettings", "check_region"]

#: The row of :data:`site_settings` that holds the default region.
REGION_KEY = "default_region"
_REGION = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class RegionChoice:
    """The region in force and where it comes from: ``stored`` (an admin or setup chose it),
    ``config`` (the configuration file or environment) or ``built-in`` (nobody chose)."""

    region: str
    source: str
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def chosen(self) -> bool:
        """Whether the site chose it (the daemon warns at start when not)."""
        return self.source != "built-in"


def check_region(raw: object, field: str = "default_region") -> str:
    """Return ``raw`` as an ISO 3166 code phonenumbers reads national numbers in; else 422."""
    text = raw.strip().upper() if isinstance(raw, str) else ""
    if not _REGION.fullmatch(text) or not is_known_region(text):
        shown = raw[:16] if isinstance(raw, str) else type(raw).__name__
        raise ValidationFailed(
            f"{field}: {shown!r} is not a country code (two letters, ISO 3166, such as US or GB)",
            details={"field": field, "reason": "unknown_region"},
        )
    return text


class SiteSettings:
    """The default region in force: the stored one, else ``configured`` (the file's).

    ``configured_by_site`` is False when ``configured`` is only the built-in default (the
    file and the environment left it out).
    """

    def __init__(self, store: Store, configured: str, *, configured_by_site: bool) -> None:
        self._store = store
        self._configured = RegionChoice(
            configured.upper(), "config" if configured_by_site else "built-in"
        )
        self._stored: RegionChoice | None = None

    def default_region(self) -> str:
        """The region numbers typed without a country code are read in (RegionSource)."""
        return (self._stored or self._configured).region

    @property
    def region(self) -> RegionChoice:
        """The region in force and where it comes from."""
        return self._stored or self._configured

    async def load(self) -> RegionChoice:
        """Read the stored setting (at start, after the store's migrations)."""
        self._stored = await self._store.aio.run(_stored_region, self._store)
        return self.region

    def load_sync(self) -> RegionChoice:
        """Do what :meth:`load` does, from synchronous code (the CLI's setup)."""
        self._stored = _stored_region(self._store)
        return self.region

    async def set_default_region(self, principal: Principal, raw: object) -> RegionChoice:
        """Store ``raw`` as the site's region (admins only: 403), audited in one transaction."""
        require(principal, Action.ADMINISTER_PBX)
        region = check_region(raw)
        previous = self.default_region()
        store, actor = self._store, principal.username
        self._stored = await store.aio.run(_store_region, store, region, previous, actor)
        return self._stored

    def set_default_region_sync(self, raw: object, actor: str) -> RegionChoice:
        """Store the region chosen at setup (``cti serve``'s first run), audited."""
        region = check_region(raw)
        self._stored = _store_region(self._store, region, self.default_region(), actor)
        return self._stored

    def view(self) -> dict[str, Any]:
        """What the admin console's settings panel shows."""
        choice = self.region
        return {
            "default_region": choice.region,
            "source": choice.source,
            "configured_region": self._configured.region,
            "built_in_region": BUILT_IN_DEFAULT_REGION,
            "updated_at": choice.updated_at.isoformat() if choice.updated_at else None,
            "updated_by": choice.updated_by,
            "regions": _regions(),
        }


def _regions() -> list[dict[str, Any]]:
    return [
        {"code": code, "calling_code": phonenumbers.country_code_for_region(code)}
        for code in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


def _stored_region(store: Store) -> RegionChoice | None:
    columns = (site_settings.c.value, site_settings.c.updated_at, site_settings.c.updated_by)
    with store.reading("site_settings.region") as conn:
        row = conn.execute(select(*columns).where(site_settings.c.key == REGION_KEY)).first()
    if row is None or not isinstance(row.value, str) or not is_known_region(row.value):
        return None  # a value no release wrote: the configured one stands
    return RegionChoice(row.value, "stored", row.updated_at, row.updated_by)


def _store_region(store: Store, region: str, previous: str, actor: str | None) -> RegionChoice:
    """Store the region and its audit event together: both or neither."""
    now = store.clock()
    values = {"value": region, "updated_at": now, "updated_by": actor}
    with store.writing("site_settings.set_region") as conn:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(site_settings).values(key=REGION_KEY, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_=values))
        details = {"from": previous, "to": region}
        audit.append_event(conn, "site.default_region_set", details, actor, now)
    return RegionChoice(region, "stored", now, actor)
