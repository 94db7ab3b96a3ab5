"""The CRM API's call checks when the node tracking the call answers slowly or not at all.

``CrmApi`` asks whether the agent was shown the call before any change, and has the call
looked up again after it (in a cluster, both are asked of the call's owner, ``cti.cluster.pops``;
here fakes that answer or raise as that owner would). The built-in CRM on SQLite, served by
uvicorn on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.routing import Route

from agent_ui.crm_api import CrmApi
from crm_connectors.builtin import BuiltinCrm
from crm_connectors.builtin import upgrade as crm_upgrade
from cti.errors import OwnerUnreachable
from tests.web.conftest import Running, serve

CALL = "lab:1795309435.2"
GRACE = {"first_name": "Grace", "last_name": "Hopper", "phone": "+442079460001", "call_id": CALL}


class Owner:
    """The node tracking ``CALL``: it popped it to alice, and may be gone by the refresh."""

    def __init__(self) -> None:
        self.reachable = True
        self.leaves_after_check = False  # gone between the check and the refresh
        self.refreshes: list[str] = []

    async def was_shown(self, agent: str, call_id: str) -> bool:
        self._check()
        self.reachable = not self.leaves_after_check
        return (agent, call_id) == ("alice", CALL)

    async def look_up_again(self, call_id: str) -> bool:
        self._check()
        self.refreshes.append(call_id)
        return True

    def _check(self) -> None:
        if not self.reachable:
            raise OwnerUnreachable("node a did not answer within 5 s", details={"node": "a"})


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[BuiltinCrm]:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    crm_upgrade(url)
    crm = BuiltinCrm.from_url(url, default_region="GB")
    yield crm
    await crm.close()


@pytest.fixture
async def owner() -> Owner:
    return Owner()


@pytest.fixture
async def site(crm: BuiltinCrm, owner: Owner) -> AsyncIterator[Running]:
    api = CrmApi(crm, "GB", owner.look_up_again, owner.was_shown)
    routes = [Route("/api/crm/contacts", api.create_contact, methods=["POST"])]
    async with serve(routes=routes) as running:
        yield running


async def _create(site: Running, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    cookie, csrf = await site.login("alice")
    async with site.client(**{"x-cti-csrf": csrf}) as client:
        client.cookies.set(site.cookie_name, cookie)
        reply = await client.post("/api/crm/contacts", json=body)
    return reply.status_code, reply.json()


async def test_a_contact_for_a_shown_call_is_created_and_the_call_looked_up_again(
    site: Running, owner: Owner, crm: BuiltinCrm
) -> None:
    status, body = await _create(site, GRACE)
    assert (status, body["refreshed"]) == (201, True)
    assert owner.refreshes == [CALL]


async def test_an_owner_lost_after_the_check_leaves_the_contact_made_and_unrefreshed(
    site: Running, owner: Owner, crm: BuiltinCrm
) -> None:
    """The change is made by then: 201 with ``refreshed`` false, not a 503 that a retry would
    answer with a second contact."""
    owner.leaves_after_check = True
    status, body = await _create(site, GRACE)
    assert (status, body["refreshed"]) == (201, False)
    assert [hit.title for hit in await crm.search("Hopper", limit=5)] == ["Grace Hopper"]


async def test_an_owner_out_of_reach_at_the_check_is_a_503_before_any_change(
    site: Running, owner: Owner, crm: BuiltinCrm
) -> None:
    owner.reachable = False
    status, body = await _create(site, GRACE)
    assert (status, body["error"]) == (503, "cluster.owner_unreachable")
    assert await crm.search("Hopper", limit=5) == []
