"""Two ``Daemon`` nodes on one store and one Redis: the root wires the cluster (issue 21).

No PBX here (the AMI port is closed): what is checked is the wiring: one node owns the server's
lease and says so on /healthz, both see each other, a frame made on one reaches the other's hub,
and a node that shuts down hands the server over at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from agent_ui import messages
from broker_adapters.redis import BrokerKeys, connect
from broker_adapters.redis.server import RedisServer, free_port
from cti.admin.servers import ServerSpec
from cti.config import AmiServerSettings, ClusterSettings, Settings, StoreSettings
from cti.daemon import Daemon
from pbx_adapters.asterisk.lifecycle import State
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
        with b.hub.serving("alice"):  # a socket of alice on b: her frames go there
            await b.hub.catch_up("alice", None, b.hub.epoch)
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


async def _until(check: Callable[[], bool], timeout_s: float = 8.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110  (the nodes' own tasks make it true)
            await asyncio.sleep(0.05)


async def test_a_server_an_admin_adds_at_runtime_takes_part_in_the_leases(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Added on a: a takes its lease and opens its session; b learns it from the store (the
    admin registry follows it), owns nothing of it until a lets go, then takes over; a lease
    lost under a is handled like a configured server's; removed on b, a forgets it too.
    Before, only configured servers had leases: every node opened the added server's session."""
    (tmp_path / "a").mkdir(mode=0o700)
    (tmp_path / "b").mkdir(mode=0o700)
    a = Daemon(node_settings(tmp_path, redis_server.url, "a"))
    await a.start()
    key = tmp_path / "b" / "secrets.key"  # every node seals and opens with the same key
    key.write_bytes((tmp_path / "a" / "secrets.key").read_bytes())
    key.chmod(0o600)
    b = Daemon(node_settings(tmp_path, redis_server.url, "b"))
    await b.start()
    try:
        assert a.cluster is not None and b.cluster is not None
        assert a.cluster.ownership is not None and b.cluster.ownership is not None
        spec = ServerSpec("pbx2", "127.0.0.1", free_port(), "cti", "secret-2")
        await a.admin.servers.add(spec, "ada")
        await a.cluster.ownership.round()
        assert a.cluster.owns("pbx2")
        assert a._source_named("pbx2").connection.state is not State.IDLE  # opened on a
        await _until(lambda: "pbx2" in b.cluster.ownership.servers)  # b followed the store
        await b.cluster.ownership.round()
        assert not b.cluster.owns("pbx2")
        assert b._source_named("pbx2").connection.state is State.IDLE  # never opened on b
        assert (await healthz(b))["cluster"]["owners"]["pbx2"] == "a"

        keys = BrokerKeys("d")
        async with connect(redis_server.url) as broker:  # the lease expires under a
            await broker.delete(keys.lease("pbx2"))
        await b.cluster.ownership.round()
        assert b.cluster.owns("pbx2")
        assert b._source_named("pbx2").connection.state is not State.IDLE
        await a.cluster.ownership.round()  # a lets it go: a fresh, unopened source stays
        assert not a.cluster.owns("pbx2")
        assert a._source_named("pbx2").connection.state is State.IDLE

        await b.admin.servers.remove("pbx2", "ada")
        assert "pbx2" not in b.cluster.ownership.servers and not b.cluster.owns("pbx2")
        await _until(lambda: "pbx2" not in a.cluster.ownership.servers)
        assert all(source.name != "pbx2" for source in a.sources)
        async with connect(redis_server.url) as broker:
            assert await broker.get(keys.lease("pbx2")) is None  # b handed it back
    finally:
        await b.close()
        await a.close()
