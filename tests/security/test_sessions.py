"""Sessions end when they should (issue 14, item 2), on a whole daemon with its store.

A password reset, a deleted or deactivated account and a role change end an existing cookie's
access at its next request and close its open websocket; logging out survives a restart; an
admin's idle session ends after 30 minutes while an agent's lasts the shift. Each of these
failed before sessions were checked on the server (the signed cookie was enough for 12 h).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.store import GroupSpec, Role
from tests.admin.workbooks import agent_row, xlsx
from tests.security.site import PASSWORD, Site, close_code, running_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        store = running.daemon.store
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_agent("alice", password=PASSWORD, role=Role.AGENT, endpoints=["PJSIP/1001"])
        store.create_group(GroupSpec("Claims"))
        yield running


async def admin(site: Site) -> httpx.AsyncClient:
    cookie, csrf = await site.login("root")
    return site.client(cookie, csrf)


async def import_rows(site: Site, rows: list[dict[str, object]]) -> None:
    """Apply a workbook through the admin console's import API, as an admin would."""
    async with await admin(site) as client:
        upload = await client.post(
            "/api/admin/imports", params={"filename": "agents.xlsx"}, content=xlsx(rows)
        )
        assert upload.status_code == 201 and upload.json()["ok"], upload.text
        import_id = upload.json()["id"]
        applied = await client.post(f"/api/admin/imports/{import_id}/apply")
        assert applied.status_code == 202, applied.text
        import_id = applied.json()["id"]  # the re-checked plan being applied
        for _ in range(200):
            state = (await client.get(f"/api/admin/imports/{import_id}")).json()["state"]
            if state != "applying":
                break
            await asyncio.sleep(0.05)
        assert state == "applied"


async def imported_agent(site: Site) -> tuple[str, str]:
    """agent1500, created by an import and given a password by the admin; logged in."""
    await import_rows(site, [agent_row("create", "1500")])
    async with await admin(site) as client:
        reply = await client.post("/api/admin/agents/agent1500/password")
        assert reply.status_code == 200
        password = reply.json()["password"]
    return await site.login("agent1500", password)


async def assert_ended(site: Site, cookie: str, ws: Any) -> None:
    assert await close_code(ws) == 1008
    assert await site.status(cookie) == 401
    assert await site.status(cookie, "/agent") == 200  # the page, for a signed-out visitor
    async with site.client(cookie) as client:
        home = await client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/agent"


async def test_a_password_reset_ends_the_old_session_and_its_socket(site: Site) -> None:
    cookie, _ = await site.login("alice")
    async with site.socket(cookie) as ws:
        assert await site.status(cookie) == 200
        async with await admin(site) as client:
            reply = await client.post("/api/admin/agents/alice/password")
            assert reply.status_code == 200
        await assert_ended(site, cookie, ws)
    fresh, _ = await site.login("alice", reply.json()["password"])
    assert await site.status(fresh) == 200


async def test_deleting_the_account_ends_its_session(site: Site) -> None:
    cookie, _ = await imported_agent(site)
    async with site.socket(cookie) as ws:
        await import_rows(site, [agent_row("delete", "1500")])
        await assert_ended(site, cookie, ws)


async def test_a_role_change_ends_the_session(site: Site) -> None:
    cookie, _ = await imported_agent(site)
    async with site.socket(cookie) as ws:
        await import_rows(site, [agent_row("update", "1500", role="supervisor")])
        await assert_ended(site, cookie, ws)


async def test_deactivating_the_account_ends_its_session(site: Site) -> None:
    cookie, _ = await site.login("alice")
    async with site.socket(cookie) as ws:
        store = site.daemon.store
        await asyncio.to_thread(store.update_agent, "alice", active=False)  # a script
        await assert_ended(site, cookie, ws)


async def test_logging_out_ends_the_session_and_its_socket(site: Site) -> None:
    cookie, csrf = await site.login("alice")
    other, _ = await site.login("alice")  # the same agent on another device stays
    async with site.socket(cookie) as ws, site.socket(other) as ws2:
        async with site.client(cookie, csrf) as client:
            assert (await client.post("/logout")).status_code == 204
        assert await close_code(ws) == 1008
        assert await site.status(cookie) == 401
        assert await site.status(other) == 200
        await ws2.close()


async def test_a_logged_out_cookie_stays_dead_after_a_restart(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        site.daemon.store.create_agent("alice", password=PASSWORD, role=Role.AGENT)
        cookie, csrf = await site.login("alice")
        kept, _ = await site.login("alice")
        async with site.client(cookie, csrf) as client:
            assert (await client.post("/logout")).status_code == 204
        assert await site.status(cookie) == 401
    async with running_site(tmp_path) as site:  # the same store and session secret
        assert await site.status(cookie) == 401
        assert await site.status(kept) == 200  # a session nobody ended outlives the restart


async def test_idle_sessions_end_by_role(tmp_path: Path) -> None:
    async with running_site(tmp_path, admin_idle_s=1.0, agent_idle_s=3600.0) as site:
        site.daemon.store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        site.daemon.store.create_agent("alice", password=PASSWORD, role=Role.AGENT)
        root, _ = await site.login("root")
        alice, _ = await site.login("alice")
        await asyncio.sleep(1.5)
        assert await site.status(root) == 401
        assert await site.status(alice) == 200
