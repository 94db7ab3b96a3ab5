"""The smaller findings of issue 14 (item 5), one test each; every one failed on the code before.

- a workbook with one very wide row is refused before openpyxl builds its cells;
- an agent cannot attach a contact to a call they were never shown;
- a user's eleventh websocket is closed with 4008;
- a Host header nobody configured gets 400, not a redirect to it;
- websocket tickets do not reach the logs;
- a malformed import-row edit is a 422, not a 500;
- a supervisor of another group learns 403 before anything about a version's body or number.
"""

from __future__ import annotations

import io
import logging
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from cti.admin.sheet import UploadRejected, read_upload
from cti.store import GroupSpec, Role
from tests.admin.workbooks import agent_row, xlsx
from tests.security.site import PASSWORD, Site, running_site
from tests.web.conftest import resume, serve


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        store = running.daemon.store
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_agent("alice", password=PASSWORD, role=Role.AGENT)
        store.create_agent("sam", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_agent("sue", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_group(GroupSpec("Sales", members=("alice",), supervisors=("sam",)))
        store.create_group(GroupSpec("Claims", supervisors=("sue",)))
        yield running


async def client_of(site: Site, username: str) -> httpx.AsyncClient:
    cookie, csrf = await site.login(username)
    return site.client(cookie, csrf)


def wide_workbook(cells: int) -> bytes:
    """A real .xlsx whose second row holds ``cells`` cells (no ``r`` attributes, as the
    issue's 5 MB workbook): the header from openpyxl, the row written into the sheet's XML."""
    data = xlsx([agent_row("create", "1500")])
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            body = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                row = "".join(f"<c><v>{n}</v></c>" for n in range(cells))
                body = body.replace(b"</sheetData>", f'<row r="3">{row}</row></sheetData>'.encode())
            target.writestr(entry, body)
    return out.getvalue()


def test_a_workbook_with_a_very_wide_row_is_refused_before_it_is_read() -> None:
    data = wide_workbook(300_000)
    started = time.perf_counter()
    with pytest.raises(UploadRejected) as caught:
        read_upload(data, "wide.xlsx")
    elapsed = time.perf_counter() - started
    print(
        f"\nrefused a {len(data) / 1e6:.1f} MB workbook, one row of 300k cells, in {elapsed:.3f} s"
    )
    assert "at most 1024 in a row" in caught.value.message
    assert read_upload(wide_workbook(30), "fine.xlsx").rows  # a normal width still reads


async def test_an_agent_cannot_attach_a_contact_to_a_call_not_shown_to_them(site: Site) -> None:
    new = {"first_name": "Eve", "last_name": "Intruder", "phone": "+442079460555"}
    async with await client_of(site, "alice") as alice:
        refused = await alice.post("/api/crm/contacts", json={**new, "call_id": "lab:1.99"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["details"] == {"call_id": "lab:1.99"}
        found = await alice.get("/api/crm/search", params={"q": "Intruder"})
        assert found.json()["hits"] == []  # nothing was created
        linked = await alice.post(
            "/api/crm/link", json={"number": "+442079460555", "ref": "x", "call_id": "lab:1.99"}
        )
        assert linked.status_code == 403
        created = await alice.post("/api/crm/contacts", json=new)  # not about a call: fine
        assert created.status_code == 201, created.text


async def test_the_eleventh_socket_of_one_user_is_closed_with_4008() -> None:
    async with serve() as server:
        cookie, _ = await server.login("alice")
        sockets = [await server.socket(cookie) for _ in range(11)]
        try:
            for ws in sockets[:10]:
                assert (await resume(ws))["type"] == "hello"
            await resume_refused(sockets[10])
            assert server.hub.connections_of("alice") == 10
        finally:
            for ws in sockets:
                await ws.close()


async def resume_refused(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosed) as caught:
        await resume(ws)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4008
    assert "too many open connections (10)" in caught.value.rcvd.reason


async def test_a_host_nobody_configured_gets_400_not_a_redirect(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as client:
        evil = await client.get("/supervisor/", headers={"host": "evil.example"})
        assert evil.status_code == 400
        assert "evil.example" not in evil.headers.get("location", "")
        good = await client.get("/supervisor/")
        assert good.status_code == 307
        assert good.headers["location"].startswith(site.url)


async def test_websocket_tickets_stay_out_of_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(log_level="info") as server:
        cookie, csrf = await server.login("alice")
        async with server.client() as client:
            client.cookies.set(server.cookie_name, cookie)
            reply = await client.post("/api/ws-ticket", headers={"x-cti-csrf": csrf})
        ticket = reply.json()["ticket"]
        with caplog.at_level(logging.INFO):
            async with server.socket(None, query=f"?ticket={ticket}") as ws:
                assert (await resume(ws))["type"] == "hello"
    assert "ticket=<redacted>" in caplog.text
    assert ticket not in caplog.text


async def test_a_malformed_import_row_edit_is_422(site: Site) -> None:
    async with await client_of(site, "root") as admin:
        upload = await admin.post(
            "/api/admin/imports",
            params={"filename": "a.xlsx"},
            content=xlsx([agent_row("create", "1500")]),
        )
        import_id = upload.json()["id"]
        for rows in (
            [{"row": "two", "cells": {}}],
            [{"cells": {"username": "x"}}],
            [{"row": 2, "cells": "x"}],
        ):
            reply = await admin.post(f"/api/admin/imports/{import_id}/rows", json={"rows": rows})
            assert reply.status_code == 422, (rows, reply.text)
            assert reply.json()["error"] == "request.invalid"


async def test_another_groups_supervisor_gets_403_before_any_validation(site: Site) -> None:
    async with await client_of(site, "sue") as sue:  # supervises Claims, not Sales
        for method, path, body in (
            ("GET", "/api/supervisor/versions/not-a-number", None),
            ("POST", "/api/supervisor/versions", {"note": 5}),
            ("POST", "/api/supervisor/versions/x/publish", {}),
            ("POST", "/api/supervisor/versions/x/rollback", {}),
            ("GET", "/api/supervisor/diff?from=a&to=b", None),
        ):
            url = path + ("&" if "?" in path else "?") + "group=Sales"
            reply = await sue.request(method, url, json=body)
            assert reply.status_code == 403, (url, reply.text)
        own = await sue.get("/api/supervisor/versions/not-a-number?group=Claims")
        assert own.status_code == 422  # her own group: the number is what is wrong
