"""The setup wizard's API: locations with emergency addresses, numbers with porting, devices by
MAC; bad input gets per-field errors and stores nothing; only admins write; all audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.site.conftest import Site

ADDRESS = {
    "street": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
    "floor_room": "3rd floor",
}
HQ = {"name": "HQ", "address": ADDRESS, "same_as_address": True, "callback": "+1 217 555 0142"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _state(site: Site) -> dict[str, Any]:
    reply = await site.client.get("/api/site")
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


async def test_a_location_with_its_emergency_address_and_callback(site: Site) -> None:
    await site.login()
    reply = await site.client.post("/api/site/locations", json=HQ)
    assert reply.status_code == 201, reply.text
    (location,) = (await _state(site))["locations"]
    assert location["callback"] == "+12175550142"
    assert location["emergency"]["postal_code"] == "62701"
    assert site.audit.kinds() == ["site.location_added"]
    again = await site.client.post("/api/site/locations", json=HQ)
    assert again.status_code == 409 and again.json()["details"]["field"] == "name"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"callback": "not a number"}, "callback"),
        ({"callback": "555 0142 x12"}, "callback"),
        ({"address": {**ADDRESS, "postal_code": ""}}, "address.postal_code"),
        ({"address": {**ADDRESS, "country": "USA"}}, "address.country"),
        ({"same_as_address": False}, "emergency"),
        ({"name": ""}, "name"),
    ],
)
async def test_a_bad_location_names_its_field_and_stores_nothing(
    site: Site, change: dict[str, Any], field: str
) -> None:
    await site.login()
    reply = await site.client.post("/api/site/locations", json={**HQ, **change})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "request.invalid"
    assert reply.json()["details"]["field"] == field
    assert (await _state(site))["locations"] == [] and site.audit.events == []


async def test_numbers_with_porting_status_and_a_letter(site: Site) -> None:
    await site.login()
    await site.client.post("/api/site/locations", json=HQ)
    numbers = [
        {"number": "+1 217 555 0100", "status": "active", "location": "HQ"},
        {"number": "+1 217 555 0101", "status": "porting", "due_date": "2027-01-15"},
        {"number": "+1 217 555 0102", "status": "failed", "reason": "name mismatch"},
    ]
    reply = await site.client.post("/api/site/numbers", json={"numbers": numbers})
    assert reply.status_code == 201, reply.text
    letter = await site.client.post(
        "/api/site/numbers/12175550101/letter", params={"filename": "loa.pdf"}, content=PDF
    )
    assert letter.status_code == 201, letter.text
    listed = {n["number"]: n for n in (await _state(site))["numbers"]}
    assert listed["12175550100"]["location"] == "HQ"
    assert listed["12175550101"]["loa_type"] == "application/pdf"
    assert listed["12175550101"]["loa_bytes"] == len(PDF)
    assert listed["12175550102"]["reason"] == "name mismatch"
    summary = (await site.client.get("/api/site/summary")).json()
    assert "+12175550101 is being ported (due 2027-01-15)" in summary["left"]
    assert "the port of +12175550102 failed: name mismatch" in summary["left"]


async def test_a_bad_number_batch_lists_every_error_and_stores_none(site: Site) -> None:
    await site.login()
    numbers = [
        {"number": "+1 217 555 0100"},
        {"number": "12"},
        {"number": "+1 217 555 0103", "status": "porting"},
        {"number": "+1 217 555 0104", "status": "failed"},
        {"number": "+1 217 555 0105", "status": "porting", "due_date": "soon"},
    ]
    reply = await site.client.post("/api/site/numbers", json={"numbers": numbers})
    assert reply.status_code == 422
    errors = [(e["row"], e["field"]) for e in reply.json()["details"]["errors"]]
    assert errors == [(1, "number"), (2, "due_date"), (3, "reason"), (4, "due_date")]
    assert (await _state(site))["numbers"] == []
    dup = [{"number": "+1 217 555 0100"}, {"number": "(217) 555-0100"}]
    reply = await site.client.post("/api/site/numbers", json={"numbers": dup})
    assert reply.status_code == 409 and reply.json()["details"]["row"] == 1
    assert (await _state(site))["numbers"] == []


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"MZ\x90\x00 not a letter", 422),  # an executable named .pdf
        (b"<html>%PDF-</html>", 422),
        (b"", 422),
        (b"%PDF-" + b"x" * (5 * 1024 * 1024), 413),
    ],
)
async def test_a_letter_is_a_pdf_or_image_by_content_and_size_capped(
    site: Site, data: bytes, status: int
) -> None:
    await site.login()
    row = {"number": "+1 217 555 0101", "status": "porting", "due_date": "2027-01-15"}
    await site.client.post("/api/site/numbers", json={"numbers": [row]})
    reply = await site.client.post(
        "/api/site/numbers/12175550101/letter", params={"filename": "loa.pdf"}, content=data
    )
    assert reply.status_code == status, reply.text
    (number,) = (await _state(site))["numbers"]
    assert number["loa_name"] is None


async def test_devices_by_mac_checked_and_assigned(site: Site) -> None:
    await site.login()
    await site.client.post("/api/site/locations", json=HQ)
    devices = [
        {"mac": "00:15:65:AB:CD:EF", "model": "yealink-t54w", "user": "ann", "location": "HQ"},
        {"model": "mobile", "user": "ben", "location": "HQ"},
    ]
    reply = await site.client.post("/api/site/devices", json={"devices": devices})
    assert reply.status_code == 201, reply.text
    shown = reply.json()["devices"]
    assert shown[0]["mac"] == "001565abcdef" and len(shown[0]["provisioning_secret"]) >= 20
    state = await _state(site)
    assert {(d["mac"], d["user"]) for d in state["devices"]} >= {("001565abcdef", "ann")}
    assert {m["key"] for m in state["models"]} >= {"browser", "mobile", "polycom-vvx450"}
    assert len({m["vendor"] for m in state["models"] if m["kind"] == "desk"}) >= 4
    assert "site.devices_added" in site.audit.kinds()


async def test_bad_devices_get_per_row_errors_and_none_is_stored(site: Site) -> None:
    await site.login()
    await site.client.post("/api/site/locations", json=HQ)
    ok = {"mac": "0015.65ab.cdef", "model": "yealink-t54w", "user": "ann", "location": "HQ"}
    await site.client.post("/api/site/devices", json={"devices": [ok]})
    devices = [
        {"mac": "00:15:65:12:34:56", "model": "snom-d785", "user": "ben", "location": "HQ"},
        {"mac": "00-15-65-AB-CD-EF", "model": "snom-d785", "user": "ben", "location": "HQ"},
        {"mac": "00:15:65:12:34", "model": "snom-d785", "user": "ben", "location": "HQ"},
        {"mac": "01:00:5e:00:00:01", "model": "snom-d785", "user": "ben", "location": "HQ"},
        {"mac": "00:15:65:12:34:56", "model": "snom-d785", "user": "ben", "location": "HQ"},
        {"mac": "00:15:65:12:34:57", "model": "nokia-3310", "user": "ben", "location": "HQ"},
        {"mac": "00:15:65:12:34:58", "model": "snom-d785", "user": "zed", "location": "HQ"},
        {"mac": "00:15:65:12:34:59", "model": "snom-d785", "user": "ben", "location": "Mars"},
    ]
    reply = await site.client.post("/api/site/devices", json={"devices": devices})
    assert reply.status_code == 422
    errors = [(e["row"], e["field"]) for e in reply.json()["details"]["errors"]]
    assert errors == [
        (1, "mac"), (2, "mac"), (3, "mac"), (4, "mac"), (5, "model"), (6, "user"), (7, "location"),
    ]  # fmt: skip
    assert [d["mac"] for d in (await _state(site))["devices"]] == ["001565abcdef"]


async def test_the_wizard_resumes_where_it_was_left(site: Site) -> None:
    await site.login()
    assert (await _state(site))["step"] == "locations"
    assert (await site.client.put("/api/site/step", json={"step": "devices"})).status_code == 200
    assert (await _state(site))["step"] == "devices"
    bad = await site.client.put("/api/site/step", json={"step": "hacking"})
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "step"


async def test_only_admins_write_and_read(site: Site) -> None:
    await site.login("alice")
    assert (await site.client.get("/api/site")).status_code == 403
    reply = await site.client.post("/api/site/locations", json=HQ)
    assert reply.status_code == 403 and reply.json()["error"] == "auth.forbidden"
    del site.client.headers["X-CTI-CSRF"]
    await site.login("root")
    del site.client.headers["X-CTI-CSRF"]
    assert (await site.client.post("/api/site/locations", json=HQ)).status_code == 403
    assert (await _state(site))["locations"] == []


async def test_the_wizard_module_is_served_under_the_strict_csp(site: Site) -> None:
    page = await site.client.get("/admin")
    assert page.status_code == 200 and 'data-tab="site"' in page.text and 'id="wizard"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await site.client.get("/static/admin/wizard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "textContent" in script.text
