"""The provisioning workbook's site sheets (issue 16, part 5): ``locations`` and ``devices``
rows checked with the wizard's own rules and applied in the import's transaction.

Implements :class:`cti.admin.site_sheets.SiteSheets`. Every problem is a per-cell error naming
its sheet, row and column; any error anywhere plans no change at all (the admin fixes the cells
in the page and validates again), so a broken sheet stores nothing half-done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from cti.admin.sheet import SheetRow
from cti.admin.site_sheets import SiteApply
from cti.admin.validate import CellError
from cti.errors import ValidationFailed
from cti.site import records
from cti.site.service import SiteAdmin
from cti.site.values import LocationInput
from cti.store import Store

__all__ = ["SiteWorkbook"]

_ADDRESS = ("street", "city", "region", "postal_code", "country", "floor_room")


def _column(exc: ValidationFailed, default: str) -> str:
    """The sheet column a refusal names (``address.street`` -> ``street``)."""
    field = str(exc.details.get("field") or default)
    return field.rsplit(".", 1)[-1]


def _reason(exc: ValidationFailed) -> str:
    message = exc.message
    head, sep, tail = message.partition(": ")
    return tail if sep and " " not in head else message


class SiteWorkbook:
    """Check and apply the ``locations`` and ``devices`` sheets of an upload."""

    def __init__(self, site: SiteAdmin, store: Store) -> None:
        self._site = site
        self._store = store

    async def check(
        self, sheets: Mapping[str, Sequence[SheetRow]], users: frozenset[str]
    ) -> tuple[list[CellError], SiteApply | None]:
        store = self._store
        known = {loc["name"] for loc in await store.aio.run(records.locations, store)}
        taken = {d.mac for d in await store.aio.run(records.devices, store)}
        errors: list[CellError] = []
        places = self._locations(sheets.get("locations", ()), known, errors)
        devices = self._devices(
            sheets.get("devices", ()), taken, set(users), known | {p.name for p in places}, errors
        )
        if errors:
            return errors, None
        shown = {f"device {d.mac}": secret for d, secret in devices}

        def apply(conn: Connection) -> tuple[dict[str, int], dict[str, str]]:
            now = store.clock()
            for place in places:
                records.insert_location(conn, place, now)
            records.insert_devices(conn, [d for d, _ in devices], now)
            return {"locations": len(places), "devices": len(devices)}, shown

        return [], apply

    def _locations(
        self, rows: Sequence[SheetRow], known: set[str], errors: list[CellError]
    ) -> list[LocationInput]:
        out = []
        names = Counter(r.cells.get("name", "").strip() for r in rows)
        for row in rows:
            cells = row.cells
            body: dict[str, Any] = {
                "name": cells.get("name", ""),
                "address": {k: cells.get(k, "") for k in _ADDRESS},
                "same_as_address": True,
                "callback": cells.get("callback", ""),
            }
            try:
                value = self._site.check_location(body)
            except ValidationFailed as exc:
                errors.append(
                    CellError(row.number, _column(exc, "name"), _reason(exc), "locations")
                )
                continue
            if value.name in known:
                errors.append(CellError(row.number, "name", f"{value.name!r} exists already",
                                        "locations"))  # fmt: skip
            elif names[value.name] > 1:
                errors.append(CellError(row.number, "name", f"{value.name!r} is listed twice",
                                        "locations"))  # fmt: skip
            else:
                out.append(value)
        return out

    def _devices(
        self,
        rows: Sequence[SheetRow],
        taken: set[str],
        users: set[str],
        places: set[str],
        errors: list[CellError],
    ) -> list[tuple[records.NewDevice, str]]:
        out: list[tuple[records.NewDevice, str]] = []
        for row in rows:
            try:
                device, secret = self._site.new_device(dict(row.cells), taken, users, places)
            except ValidationFailed as exc:
                reason = _reason(exc)
                if "already added" in exc.message and any(d.mac == _mac(row) for d, _ in out):
                    reason = "that MAC is listed twice"
                errors.append(CellError(row.number, _column(exc, "mac"), reason, "devices"))
                continue
            taken.add(device.mac)
            out.append((device, secret))
        return out


def _mac(row: SheetRow) -> str:
    return "".join(ch for ch in row.cells.get("mac", "").lower() if ch in "0123456789abcdef")
