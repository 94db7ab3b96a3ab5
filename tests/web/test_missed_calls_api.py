"""The missed-calls API over real HTTP: each agent reads and clears only their own list, every
write needs the session's CSRF token and a good origin, and bad bodies are a 422 that changes
nothing. The list is the service's, on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent_ui.missed_calls_api import missed_call_routes
from cti.missed_calls import MissedCalls
from cti.store import Store
from cti.store.migrations import upgrade
from tests.missed_calls.test_missed import RECORD, ended, owners
from tests.store.test_missed_calls import Told
from tests.web.conftest import Running, serve


@pytest.fixture
async def book(tmp_path: Path) -> AsyncIterator[MissedCalls]:
    url = f"sqlite:///{tmp_path}/store.sqlite3"
    upgrade(url)
    store = Store(url)
    missed = MissedCalls(store, owners, Told())
    missed.observe([ended(replace(RECORD, call_id=f"lab:{i}")) for i in range(2)])
    await missed.flush()
    try:
        yield missed
    finally:
        store.close()


@pytest.fixture
async def running(book: MissedCalls) -> AsyncIterator[Running]:
    async with serve(routes=missed_call_routes(book)) as server:
        yield server


async def test_an_agent_reads_and_clears_only_their_own_list(running: Running) -> None:
    alice_cookie, alice_csrf = await running.login("alice")
    bob_cookie, bob_csrf = await running.login("bob")
    async with running.client() as client:
        client.cookies.set(running.cookie_name, bob_cookie)
        bob_ids = [c["id"] for c in (await client.get("/api/agent/missed-calls")).json()["calls"]]
        client.cookies.set(running.cookie_name, alice_cookie)
        listed = await client.get("/api/agent/missed-calls")
        assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"
        body = listed.json()
        assert body["unseen"] == 2 and len(body["calls"]) == 2
        ids = [c["id"] for c in body["calls"]]
        assert not set(ids) & set(bob_ids)

        csrf = {"x-cti-csrf": alice_csrf}
        refused = await client.post(
            "/api/agent/missed-calls/seen", json={"ids": bob_ids[:1]}, headers=csrf
        )
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"] == "missed_call.not_found"
        bad = await client.post("/api/agent/missed-calls/seen", json={"ids": "all"}, headers=csrf)
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "ids"
        no_csrf = await client.post("/api/agent/missed-calls/seen", json={"all": True})
        assert no_csrf.status_code == 403
        seen = await client.post(
            "/api/agent/missed-calls/seen", json={"ids": ids[:1]}, headers=csrf
        )
        assert seen.status_code == 200 and seen.json() == {"unseen": 1}

        client.cookies.set(running.cookie_name, bob_cookie)
        assert (await client.get("/api/agent/missed-calls")).json()["unseen"] == 2
        client.cookies.set(running.cookie_name, (await running.login("ada"))[0])
        assert (await client.get("/api/agent/missed-calls")).status_code == 403
    del bob_csrf


async def test_no_session_no_list(running: Running) -> None:
    async with running.client() as client:
        assert (await client.get("/api/agent/missed-calls")).status_code == 401
