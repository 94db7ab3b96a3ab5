"""Two ``Daemon`` nodes on one store and one Redis: the root wires the cluster (issue 21).

No PBX here (the AMI port is closed): what is checked is the wiring: one node owns the server's
lease and says so on /healthz, both see each other, a frame made on one reaches the other's hub,
and a node that shuts down hands the server over at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from agent_ui import messages
from broker_adapters.redis import BrokerKeys, connect
from broker_adapters.redis.server import RedisServer, free_port
from cti.config import AmiServerSettings, ClusterSettings, Settings, StoreSettings
from cti.daemon import Daemon
from tests.transcript import events_of, frames


def node_settings(workdir: Path, broker: str, node: str) -> Settings:
    return Settings(
        state_dir=workdir / node,
        store=StoreSettings(url=f"sqlite:///{workdir}/cti.sqlite3"),
        servers=(AmiServerSettings(name="lab", port=free_port()),),
        cluster=ClusterSettings(broker_url=broker, node_id=node, prefix="d", lease_ttl_s=1.0),
    )


async def healthz(daemon: Daemon) -> dict:
    app = daemon.build_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
        return (await client.get("/healthz")).json()


async def test_two_nodes_share_the_server_and_the_frames(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    (tmp_path / "a").mkdir(mode=0o700)
    (tmp_path / "b").mkdir(mode=0o700)
    a = Daemon(node_settings(tmp_path, redis_server.url, "a"))
    await a.start()
    b = Daemon(node_settings(tmp_path, redis_server.url, "b"))
    await b.start()
    try:
        assert a.cluster is not None and b.cluster is not None
        assert a.cluster.owns("lab") and not b.cluster.owns("lab")
        assert a.hub.epoch == b.hub.epoch
        a.hub.send("alice", messages.pop("c1", "<p>x</p>", {"call_id": "c1"}))
        async with asyncio.timeout(5):
            while b.hub.position("alice") != 1:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        body = await healthz(b)
        assert body["cluster"]["node"] == "b"
        assert body["cluster"]["owners"] == {"lab": "a"}
        assert set(body["cluster"]["nodes"]) == {"a", "b"}
        await a.close()
        assert b.cluster.ownership is not None
        await b.cluster.ownership.round()  # its next round: the released lease is free
        assert b.cluster.owns("lab")
    finally:
        await b.close()
        await a.close()


async def test_a_node_that_loses_the_lease_drops_the_servers_calls(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Its calls go to the new owner (restored from the store); the old node keeps none, so it
    neither pops, saves nor records them again (issue 21)."""
    (tmp_path / "a").mkdir(mode=0o700)
    (tmp_path / "b").mkdir(mode=0o700)
    a = Daemon(node_settings(tmp_path, redis_server.url, "a"))
    await a.start()
    b = Daemon(node_settings(tmp_path, redis_server.url, "b"))
    await b.start()
    try:
        assert a.cluster is not None and b.cluster is not None
        assert a.cluster.ownership is not None and b.cluster.ownership is not None
        events = events_of(frames("direct_answered"))
        for event in events[: len(events) // 2]:  # a call is up on a, the owner
            a._on_event(event)
        live = a.tracker.call_ids()
        assert live
        assert await a.live_calls.save()
        keys = BrokerKeys("d")
        async with connect(redis_server.url) as broker:  # the lease expires under a
            await broker.delete(keys.lease("lab"))
        await b.cluster.ownership.round()  # b takes it and restores the call
        assert b.cluster.owns("lab") and b.tracker.call_ids() == live
        await a.cluster.ownership.round()  # a's renewal fails: it lets the server go
        assert not a.cluster.owns("lab")
        assert a.tracker.call_ids() == [] and a.pops.active_pops("alice") == []
    finally:
        await b.close()
        await a.close()


async def test_healthz_is_503_while_the_broker_is_unreachable(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A load balancer takes a node cut off from the broker out of rotation, and back."""
    (tmp_path / "a").mkdir(mode=0o700)
    (tmp_path / "b").mkdir(mode=0o700)
    b = Daemon(node_settings(tmp_path, redis_server.url, "b"))
    await b.start()  # b owns the server (whose AMI is down): a answers for none
    a = Daemon(node_settings(tmp_path, redis_server.url, "a"))
    await a.start()
    try:
        app = a.build_app()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            reply = await c.get("/healthz")
            assert reply.status_code == 200 and reply.json()["cluster"]["broker"] == "ok"
            redis_server.stop()
            reply = await c.get("/healthz")
            assert reply.status_code == 503
            assert reply.json()["cluster"]["broker"].startswith("unreachable")
            assert reply.json()["status"] == "degraded"
            redis_server.start()
            reply = await c.get("/healthz")
            assert reply.status_code == 200 and reply.json()["cluster"]["broker"] == "ok"
    finally:
        await a.close()
        await b.close()
