"""Websocket tickets in a cluster: minted on one node, redeemed once on any node.

Two web fronts (``create_app`` on real uvicorn servers) share a session registry, as the
store's is shared, and keep tickets in one private ``redis-server``. Before, a ticket lived in
the memory of the node that minted it: the socket behind a load balancer that sent it to
another node was refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import InvalidStatus

from agent_ui.policy import WebPolicy
from agent_ui.session_guard import MemorySessions
from broker_adapters.redis import BrokerKeys, connect
from broker_adapters.redis.server import RedisServer
from broker_adapters.redis.tickets import RedisTickets
from tests.web.conftest import Running, resume, serve

pytestmark = pytest.mark.multinode


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[tuple[Running, Running]]:
    sessions = MemorySessions()
    policy = WebPolicy(ticket_ttl_s=1.0)
    stores = [_store(redis_server), _store(redis_server)]
    try:
        async with (
            serve(policy=policy, sessions=sessions, tickets=stores[0]) as a,
            serve(policy=policy, sessions=sessions, tickets=stores[1]) as b,
        ):
            yield a, b
    finally:
        for store in stores:
            await store.close()


def _store(server: RedisServer) -> RedisTickets:
    return RedisTickets(connect(server.url), BrokerKeys("tickets-test"))


async def _ticket(node: Running, cookie: str, csrf: str) -> tuple[int, dict[str, object]]:
    async with node.client() as client:
        client.cookies.set(node.cookie_name, cookie)
        reply = await client.post("/api/ws-ticket", headers={"x-cti-csrf": csrf})
    return reply.status_code, reply.json()


async def _opens(node: Running, ticket: object) -> str | int:
    """The username the socket's hello names, or the handshake's refusal status."""
    try:
        async with node.socket(query=f"?ticket={ticket}") as ws:
            return str((await resume(ws))["data"]["agent"]["username"])
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_a_ticket_minted_on_one_node_opens_a_socket_on_another_once(
    nodes: tuple[Running, Running],
) -> None:
    a, b = nodes
    cookie, csrf = await a.login("alice")
    status, body = await _ticket(a, cookie, csrf)
    assert status == 200
    assert await _opens(b, body["ticket"]) == "alice"
    assert await _opens(b, body["ticket"]) == 403  # used
    assert await _opens(a, body["ticket"]) == 403  # used, on the node that minted it too


async def test_two_nodes_racing_with_one_ticket_open_one_socket(
    nodes: tuple[Running, Running],
) -> None:
    a, b = nodes
    cookie, csrf = await a.login("bob")
    for _ in range(5):
        _, body = await _ticket(b, cookie, csrf)
        outcomes = await asyncio.gather(_opens(a, body["ticket"]), _opens(b, body["ticket"]))
        assert sorted(outcomes, key=str) == [403, "bob"]


async def test_an_unused_ticket_expires_on_every_node(nodes: tuple[Running, Running]) -> None:
    a, b = nodes
    cookie, csrf = await a.login("alice")
    _, body = await _ticket(a, cookie, csrf)
    await asyncio.sleep(1.3)  # past the 1 s ttl, which Redis enforces
    assert await _opens(b, body["ticket"]) == 403
    assert await _opens(a, "made-up") == 403


async def test_without_the_broker_a_ticket_is_refused_with_503_not_kept_half(
    nodes: tuple[Running, Running], redis_server: RedisServer
) -> None:
    a, b = nodes
    cookie, csrf = await a.login("alice")
    _, body = await _ticket(a, cookie, csrf)
    redis_server.stop()
    status, error = await _ticket(a, cookie, csrf)
    assert (status, error["error"]) == (503, "cluster.broker_unavailable")
    assert await _opens(b, body["ticket"]) == 403  # cannot be checked once: refused
    redis_server.start()
    assert await _opens(b, body["ticket"]) == "alice"  # kept by Redis (append-only file)
