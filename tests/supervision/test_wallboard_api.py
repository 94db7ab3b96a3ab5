"""The wallboard on a real daemon (no PBX): a group's owners set its alert thresholds (stored,
in the board at once, in the ``wallboard`` frame over the websocket), others get 403, a bad body
422 naming the field and nothing stored; today's figures come from the report buckets."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cti.reports.buckets import Counting, Deltas
from cti.reports.rows import add_deltas
from cti.store import GroupSpec, Role
from cti.store.wallboard_tables import wallboard_thresholds
from tests.security.site import PASSWORD, Site, running_site

URL = "/api/supervisor/wallboard"
PUT = "/api/supervisor/wallboard/thresholds"
GOOD = {"max_waiting": 2, "max_wait_s": 30, "min_service_level_pct": 80.5, "max_paused": None}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        store = running.daemon.store
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_agent("alice", password=PASSWORD, role=Role.AGENT)
        store.create_agent("sam", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_agent("sue", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_group(
            GroupSpec("Sales", members=("alice",), supervisors=("sam",), queues=("sales",))
        )
        store.create_group(GroupSpec("Claims", supervisors=("sue",)))
        yield running


def _stored(site: Site) -> list[dict[str, Any]]:
    with site.daemon.store.reading("test") as conn:
        return [dict(r._mapping) for r in conn.execute(select(wallboard_thresholds))]


async def _put(site: Site, who: str, body: object, group: str = "Sales") -> Any:
    cookie, csrf = await site.login(who)
    async with site.client(cookie, csrf) as client:
        return await client.put(PUT, params={"group": group}, json=body)


async def test_an_owner_sets_thresholds_and_the_board_and_frame_carry_them(site: Site) -> None:
    reply = await _put(site, "sam", GOOD)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"group": "Sales", "thresholds": GOOD}
    assert [r["updated_by"] for r in _stored(site)] == ["sam"]
    cookie, _ = await site.login("sam")
    async with site.client(cookie) as client:
        board = (await client.get(URL, params={"group": "Sales"})).json()
    assert board["thresholds"] == GOOD
    assert board["queues"] == [{"queue": "sales", "waiting": 0, "longest_wait_s": 0.0,
        "offered": 0.0, "answered": 0.0, "service_level_pct": None}]  # fmt: skip
    async with site.socket(cookie) as ws:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = json.loads(await ws.recv())
            if message["type"] == "wallboard":
                break
        assert message["type"] == "wallboard" and message["data"]["group"] == "Sales"
        assert message["data"]["thresholds"] == GOOD
    reply = await _put(site, "root", {"max_paused": 3})  # an admin may too; the rest cleared
    assert reply.json()["thresholds"] == {
        "max_waiting": None, "max_wait_s": None, "min_service_level_pct": None, "max_paused": 3,
    }  # fmt: skip
    assert len(_stored(site)) == 1


async def test_todays_service_level_comes_from_the_report_buckets(site: Site) -> None:
    daemon = site.daemon
    deltas = Deltas(Counting(daemon.reports.site_tz))
    now = time.time()
    for metric, value in (("offered", 10), ("answered", 8), ("sl_answered", 6)):
        deltas.add(now, "queue", "sales", metric, value)
    deltas.add(now, "queue", "sales", "abandoned_short", 2)
    with daemon.store.writing("test") as conn:
        add_deltas(conn, deltas)
    await daemon.supervision.refresh()  # the feed reloads them with the groups
    cookie, _ = await site.login("sam")
    async with site.client(cookie) as client:
        board = (await client.get(URL, params={"group": "Sales"})).json()
    assert board["queues"][0]["offered"] == 10
    assert board["queues"][0]["service_level_pct"] == 75.0  # 6 of 10 offered less 2 short


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_wait_s": "30"}, "max_wait_s"),
        ({"max_waiting": True}, "max_waiting"),
        ({"max_waiting": 1.5}, "max_waiting"),
        ({"max_paused": -1}, "max_paused"),
        ({"min_service_level_pct": 101}, "min_service_level_pct"),
        ({"max_wait_s": 86_401}, "max_wait_s"),
        ({"max_wait": 30}, "max_wait"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field_and_stores_nothing(
    site: Site, body: dict[str, object], field: str
) -> None:
    assert (await _put(site, "sam", GOOD)).status_code == 200
    reply = await _put(site, "sam", body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["details"]["field"] == field
    assert _stored(site)[0]["max_wait_s"] == 30  # the good ones stay


async def test_only_the_groups_owners_and_admins_may(site: Site) -> None:
    for who in ("sue", "alice"):
        assert (await _put(site, who, GOOD)).status_code == 403
        cookie, _ = await site.login(who)
        async with site.client(cookie) as client:
            assert (await client.get(URL, params={"group": "Sales"})).status_code == 403
    assert (await _put(site, "sue", {"max_wait": "x"})).status_code == 403  # who, before what
    assert (await _put(site, "sam", GOOD, group="Nope")).status_code == 404
    async with site.client() as anonymous:
        assert (await anonymous.get(URL, params={"group": "Sales"})).status_code == 401
    assert _stored(site) == []


async def test_a_deleted_group_takes_its_thresholds_along(site: Site) -> None:
    assert (await _put(site, "sue", GOOD, group="Claims")).status_code == 200
    site.daemon.store.delete_group("Claims")
    assert _stored(site) == []
