"""The provisioning workbook's locations and devices sheets (issue 16, part 5): the template
has them; they are checked with the wizard's rules (per-cell errors naming sheet, row and
column), fixed in place and applied with the agents in one transaction; a broken sheet stores
nothing, not even the agents sheet's valid rows."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from openpyxl import Workbook, load_workbook

from cti.admin.history import AdminHistory
from cti.admin.provisioning import Provisioning
from cti.config import ProvisioningSettings
from cti.secretbox import SecretBox
from cti.site import records
from cti.site.service import SiteAdmin
from cti.site.workbook import SiteWorkbook
from cti.store import AgentEndpoint, Store
from tests.site.conftest import Audit

AGENTS = [
    ["action", "username", "first name", "last name", "email", "extension", "endpoint secret",
     "groups", "role", "salesforce user"],
    ["create", "nia", "Nia", "North", "nia@example.com", "2201", "generate", "", "agent", ""],
    ["create", "oto", "Oto", "Owens", "oto@example.com", "2202", "generate", "", "agent", ""],
]  # fmt: skip
LOCATIONS = [
    ["name", "street", "city", "region", "postal code", "country", "floor room", "callback"],
    ["Depot", "9 Dock Rd", "Springfield", "IL", "62702", "US", "", "+1 217 555 0199"],
]
DEVICES = [
    ["mac", "model", "user", "location"],
    ["00:15:65:aa:02:01", "yealink-t54w", "nia", "Depot"],
    ["", "mobile", "oto", "HQ"],
]


def workbook(**sheets: list[list[str]]) -> bytes:
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
async def provisioning(tmp_path: Path) -> AsyncIterator[tuple[Provisioning, Store]]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.upgrade()
    store.create_agent("ann", display_name="Ann", endpoints=[AgentEndpoint("PJSIP/2001")])
    site = SiteAdmin(store, SecretBox(Fernet.generate_key()), Audit(), default_region="US")
    hq = {"street": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701",
          "country": "US"}  # fmt: skip
    await site.add_location(
        {"name": "HQ", "address": hq, "same_as_address": True, "callback": "+12175550142"}, "root"
    )

    async def refresh() -> None:
        return None

    service = Provisioning(ProvisioningSettings(), store, AdminHistory(store), refresh)
    service.use_site(SiteWorkbook(site, store))
    yield service, store
    await service.close()
    store.close()


async def _applied(service: Provisioning, import_id: str) -> dict[str, object]:
    session = await service.apply(import_id, "root")
    for _ in range(200):
        body = service.status(session.id, "root")
        if body["state"] != "applying":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the apply did not finish")


def test_the_template_has_the_locations_and_devices_sheets() -> None:
    book = load_workbook(io.BytesIO(Provisioning.template()))
    assert book.sheetnames == ["agents", "locations", "devices", "help"]
    assert [c.value for c in book["devices"][1]] == ["mac", "model", "user", "location"]
    assert book["locations"]["H2"].value == "'+1 217 555 0142"  # neutralized; read back bare
    helped = {(r[0].value, r[1].value) for r in book["help"].iter_rows(min_row=2)}
    assert ("locations", "callback") in helped and ("devices", "mac") in helped


async def test_locations_and_devices_apply_with_the_agents(
    provisioning: tuple[Provisioning, Store],
) -> None:
    service, store = provisioning
    data = workbook(agents=AGENTS, locations=LOCATIONS, devices=DEVICES)
    session = await service.upload(data, "site.xlsx", "root")
    assert session.plan.ok, session.plan.errors
    body = await _applied(service, session.id)
    assert body["state"] == "applied", body
    result = body["result"]
    assert isinstance(result, dict)
    assert result["counts"]["locations"] == 1 and result["counts"]["devices"] == 2
    assert "device 001565aa0201" in result["secrets"]  # its provisioning secret, shown once
    found = {(d.mac, d.model, d.username, d.location) for d in records.devices(store)}
    assert ("001565aa0201", "yealink-t54w", "nia", "Depot") in found
    assert {d.username for d in records.devices(store)} == {"nia", "oto"}
    assert {loc["name"] for loc in records.locations(store)} == {"HQ", "Depot"}


async def test_broken_sheets_get_per_cell_errors_and_store_nothing_until_fixed(
    provisioning: tuple[Provisioning, Store],
) -> None:
    service, store = provisioning
    locations = [
        LOCATIONS[0],
        ["Depot", "", "Springfield", "IL", "62702", "US", "", "+1 217 555 0199"],
        ["Annex", "2 Side St", "Springfield", "IL", "62703", "USA", "", "+1 217 555 0198"],
        ["HQ", "3 Other St", "Springfield", "IL", "62704", "US", "", "+1 217 555 0197"],
        ["Yard", "4 Yard Ln", "Springfield", "IL", "62705", "US", "", "555"],
    ]
    devices = [
        DEVICES[0],
        ["00:15:65:aa:02:01", "yealink-t54w", "nia", "HQ"],
        ["00:15:65:aa:02:01", "yealink-t54w", "oto", "HQ"],  # the same MAC twice
        ["00:15:65:zz:02:02", "yealink-t54w", "oto", "HQ"],
        ["000b82bb0203", "no-such-phone", "oto", "HQ"],
        ["000b82bb0204", "grandstream-grp2614", "nobody", "HQ"],
        ["000b82bb0205", "grandstream-grp2614", "oto", "Nowhere"],
    ]
    data = workbook(agents=AGENTS, locations=locations, devices=devices)
    session = await service.upload(data, "broken.xlsx", "root")
    errors = {(e.sheet, e.row, e.column) for e in session.plan.errors}
    assert errors == {
        ("locations", 2, "street"), ("locations", 3, "country"), ("locations", 4, "name"),
        ("locations", 5, "callback"), ("devices", 3, "mac"), ("devices", 4, "mac"),
        ("devices", 5, "model"), ("devices", 6, "user"), ("devices", 7, "location"),
    }  # fmt: skip
    assert session.plan.changes == ()  # the agents sheet is fine, but nothing is planned
    shown = session.as_dict()
    assert [r["row"] for r in shown["site_cells"]["devices"]] == [3, 4, 5, 6, 7]
    assert shown["errors"][0]["sheet"] in ("locations", "devices")
    refused = await service.apply(session.id, "root")
    assert not refused.plan.ok
    assert store.get_agent("nia") is None and records.devices(store) == []
    assert [loc["name"] for loc in records.locations(store)] == ["HQ"]

    keys = {
        "locations": (
            "name",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "floor_room",
            "callback",
        ),
        "devices": ("mac", "model", "user", "location"),
    }
    rows = {"locations": locations, "devices": devices}

    def fix(sheet: str, row: int, **cells: str) -> dict[str, object]:
        """The row as the page sends it: every cell, the fixed ones changed."""
        return {
            "sheet": sheet,
            "row": row,
            "cells": dict(zip(keys[sheet], rows[sheet][row - 1], strict=True)) | cells,
        }

    fixes = [
        fix("locations", 2, street="9 Dock Rd"),
        fix("locations", 3, country="US"),
        fix("locations", 4, name="HQ2"),
        fix("locations", 5, callback="+1 217 555 0196"),
        fix("devices", 3, mac="00:15:65:aa:02:09"),
        fix("devices", 4, mac="00:15:65:aa:02:02"),
        fix("devices", 5, model="snom-d785"),
        fix("devices", 6, user="ann"),
        fix("devices", 7, location="Yard"),
    ]  # fmt: skip
    fixed = await service.edit(session.id, fixes, "root")
    assert fixed.plan.ok, fixed.plan.errors
    body = await _applied(service, fixed.id)
    assert body["state"] == "applied", body
    assert len(records.devices(store)) == 6 and len(records.locations(store)) == 5


async def test_a_csv_carries_no_site_sheets_and_a_bad_sheet_edit_is_refused(
    provisioning: tuple[Provisioning, Store],
) -> None:
    service, _ = provisioning
    csv = "\n".join(",".join(r) for r in AGENTS).encode()
    session = await service.upload(csv, "agents.csv", "root")
    assert session.plan.ok and session.sheet.extra == {}
    with pytest.raises(Exception, match="each edited row"):
        await service.edit(session.id, [{"sheet": "nope", "row": 2, "cells": {}}], "root")
