"""The desktop's CRM actions on a call, from a node that does not own the call's server.

Two ``Daemon`` nodes on one store and one private Redis, each served by uvicorn on loopback; no
PBX (the AMI port is closed): node ``a`` holds the server's lease and is fed a recorded lab
call, whose pop reaches alice's tab on ``b`` through the fan-out. Alice links the caller's
number and creates a contact on ``b``: ``b`` asks ``a`` whether the call was shown to her and
has ``a`` look the caller up again, whose ``pop_update`` reaches her tab. Before, ``b`` asked
its own pop service, which never saw the call: 403 "that call was not shown to you", and no
refresh. Bob, never shown the call, is refused on both nodes; with the owner gone, the answer is
503 and the CRM is not written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker_adapters.redis.server import RedisServer
from tests.cluster.two_nodes import lose_owner, next_frame, ring, two_nodes
from tests.security.site import Site

pytestmark = pytest.mark.multinode

CALLER = "+442079460001"  # direct_answered: Ada Lovelace's call to alice's phone, PJSIP/1001
PREFIX = "crm-any-node"


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Site, Site]]:
    """(a, b): ``a`` started first owns the server ``lab``; alice's phone is PJSIP/1001."""
    async with two_nodes(tmp_path, redis_server.url, PREFIX) as pair:
        yield pair


async def _client(site: Site, username: str) -> httpx.AsyncClient:
    cookie, csrf = await site.login(username)
    return site.client(cookie, csrf)


def _names(card: dict[str, Any]) -> list[str]:
    return [match["name"] for match in card["card"]["matches"]]


async def test_alice_on_the_other_node_links_and_creates_and_her_pop_is_refreshed(
    nodes: tuple[Site, Site],
) -> None:
    a, b = nodes
    cookie, _ = await b.login("alice")
    async with b.socket(cookie) as ws, await _client(b, "alice") as alice:
        call_id = ring(a.daemon)
        popped = await next_frame(ws, "pop", call_id)  # made on a, sent through the fan-out
        assert _names(popped) == []  # nobody in the CRM has the caller's number yet

        made = await alice.post(
            "/api/crm/contacts", json={"first_name": "Ada", "last_name": "Lovelace"}
        )
        assert made.status_code == 201, made.text
        ada = made.json()["contact"]["ref"]
        linked = await alice.post(
            "/api/crm/link", json={"number": CALLER, "ref": ada, "call_id": call_id}
        )
        assert linked.status_code == 200, linked.text
        assert linked.json()["refreshed"] is True
        assert _names(await next_frame(ws, "pop_update", call_id)) == ["Ada Lovelace"]

        created = await alice.post(
            "/api/crm/contacts",
            json={
                "first_name": "Grace",
                "last_name": "Hopper",
                "phone": CALLER,
                "call_id": call_id,
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["refreshed"] is True
        updated = await next_frame(ws, "pop_update", call_id)
        assert sorted(_names(updated)) == ["Ada Lovelace", "Grace Hopper"]


async def test_bob_who_was_not_shown_the_call_is_refused_on_either_node(
    nodes: tuple[Site, Site],
) -> None:
    a, b = nodes
    call_id = ring(a.daemon)
    new = {"first_name": "Eve", "last_name": "Intruder", "phone": CALLER, "call_id": call_id}
    for site in (a, b):
        async with await _client(site, "bob") as bob:
            refused = await bob.post("/api/crm/contacts", json=new)
            assert refused.status_code == 403, refused.text
            assert refused.json()["details"] == {"call_id": call_id}
            linked = await bob.post(
                "/api/crm/link",
                json={"number": CALLER, "ref": "builtin:contact:1", "call_id": call_id},
            )
            assert linked.status_code == 403, linked.text
            found = await bob.get("/api/crm/search", params={"q": "Intruder"})
            assert found.json()["hits"] == []  # nothing was created


async def test_with_the_owner_out_of_reach_the_answer_is_503_and_nothing_is_written(
    nodes: tuple[Site, Site], redis_server: RedisServer
) -> None:
    """The lease moves to a node that is not listening: neither node can say whether the call
    was shown to alice, so neither writes; before the check, ``b`` would have said 403."""
    a, b = nodes
    cookie, _ = await b.login("alice")
    async with b.socket(cookie) as ws:
        call_id = ring(a.daemon)
        await next_frame(ws, "pop", call_id)
    await lose_owner(nodes, redis_server.url, PREFIX)
    new = {"first_name": "Grace", "last_name": "Hopper", "phone": CALLER, "call_id": call_id}
    for site in (a, b):
        async with await _client(site, "alice") as alice:
            refused = await alice.post("/api/crm/contacts", json=new)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "cluster.owner_unreachable"
            found = await alice.get("/api/crm/search", params={"q": "Hopper"})
            assert found.json()["hits"] == []


async def test_an_ami_action_asked_of_the_owner_is_still_run_there(
    nodes: tuple[Site, Site],
) -> None:
    """Requests without a kind are AMI actions, as before pop questions shared the channel:
    alice's dial on ``b`` reaches ``a``'s session (not connected here) and comes back as its
    AMI error, not as an unanswered request."""
    _, b = nodes
    async with await _client(b, "alice") as alice:
        dialled = await alice.post("/api/dial", json={"number": "+442079460002"})
    assert dialled.status_code == 502, dialled.text
    assert dialled.json()["error"] == "ami.error"
    assert dialled.json()["message"] == "AMI lab is not connected; Originate was not sent"
