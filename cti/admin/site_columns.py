"""The provisioning workbook's site sheets (issue 16): ``locations`` (with the emergency
address and callback number) and ``devices`` (by MAC and model), their columns, header aliases
and example rows; read and written by :mod:`cti.admin.sheet`, checked and applied by the site
service through :class:`cti.admin.site_sheets.SiteSheets`."""

from __future__ import annotations

from cti.admin.columns import Column

__all__ = ["SITE_EXAMPLES", "SITE_SHEETS", "site_aliases"]

SITE_SHEETS: dict[str, tuple[Column, ...]] = {
    "locations": (
        Column("name", "name", "the location's name (unique)"),
        Column("street", "street", "emergency address: street and number (required)"),
        Column("city", "city", "emergency address: city (required)"),
        Column("region", "region", "emergency address: state or region"),
        Column("postal_code", "postal code", "emergency address: postal code (required)"),
        Column("country", "country", "emergency address: 2-letter country code (required)"),
        Column("floor_room", "floor room", "where in the building (floor, room)"),
        Column("callback", "callback", "the number emergency services call back (E.164)"),
    ),
    "devices": (
        Column("mac", "mac", "the desk phone's MAC address (12 hex digits); empty for softphones"),
        Column("model", "model", "a listed model key (yealink-t54w, ..., browser, mobile)"),
        Column("user", "user", "the username it belongs to (existing, or created above)"),
        Column("location", "location", "its location's name (existing, or in locations)"),
    ),
}

SITE_EXAMPLES: dict[str, dict[str, str]] = {
    "locations": {
        "name": "HQ",
        "street": "1 Main St",
        "city": "Springfield",
        "region": "IL",
        "postal_code": "62701",
        "country": "US",
        "floor_room": "3rd floor",
        "callback": "+1 217 555 0142",
    },
    "devices": {
        "mac": "00:15:65:ab:cd:ef",
        "model": "yealink-t54w",
        "user": "jdoe",
        "location": "HQ",
    },
}


def site_aliases(sheet: str) -> dict[str, str]:
    """Squashed header text (lower case, letters and digits) -> column key."""
    return {c.key.replace("_", ""): c.key for c in SITE_SHEETS[sheet]} | {
        c.title.replace(" ", ""): c.key for c in SITE_SHEETS[sheet]
    }
