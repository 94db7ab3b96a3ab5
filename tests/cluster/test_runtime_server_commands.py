"""In a cluster, a server an admin adds at runtime is commanded through the node owning it.

Two ``Daemon`` nodes on one store and one private Redis, each served by uvicorn on loopback; the
configured server ``lab`` and the added ``pbx2`` are fake AMI servers on real TCP sockets. The
admin adds pbx2 on ``a``, which takes its lease and opens the only session to it; ``b`` learns it
from the store. Carol, whose phone is on pbx2, is logged in on ``b``: her click-to-dial and her
pause reach pbx2 through ``a`` (``OwnedActions``), and ``b``'s recording service publishes its
globals there the same way. Before, only configured servers had commands: ``b`` refused her dial
("your phone is on server 'pbx2', which this daemon does not reach").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from broker_adapters.redis.server import RedisServer
from cti.config import AmiServerSettings, ClusterSettings, Settings, StoreSettings
from cti.daemon import Daemon
from cti.principal import Role
from cti.store.values import AgentEndpoint, GroupSpec
from tests.admin.test_runtime_server_commands import (
    CAROL_PHONE,
    PAUSE,
    SECRET,
    client,
    fake_pbx,
    generation_set,
    pauses,
    server_body,
    until,
)
from tests.security.site import PASSWORD, Site, http_of, loopback_socket, served

pytestmark = pytest.mark.multinode

PREFIX = "runtime-commands"
ALWAYS = {"policy": "always"}


@asynccontextmanager
async def node(workdir: Path, broker: str, name: str, lab_port: int) -> AsyncIterator[Site]:
    """A started node ``name`` served on a free loopback port; drained and closed after."""
    sock = loopback_socket()
    http = http_of(sock)
    (workdir / name).mkdir(mode=0o700)
    key = workdir / "a" / "secrets.key"  # every node seals and opens with the same key
    if name != "a":
        (workdir / name / "secrets.key").write_bytes(key.read_bytes())
        (workdir / name / "secrets.key").chmod(0o600)
    lab = AmiServerSettings(name="lab", port=lab_port, secret=SecretStr(SECRET))
    daemon = Daemon(
        Settings(
            state_dir=workdir / name,
            store=StoreSettings(url=f"sqlite:///{workdir}/cti.sqlite3"),
            http=http,
            servers=(lab,),
            cluster=ClusterSettings(
                broker_url=broker, node_id=name, prefix=PREFIX, lease_ttl_s=1.0
            ),
        )
    )
    async with served(daemon, sock, http) as site:
        yield site


async def test_dial_pause_and_globals_from_any_node_reach_an_added_server_through_its_owner(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        fake_pbx() as lab,
        fake_pbx(members=[CAROL_PHONE]) as pbx2,
        node(tmp_path, redis_server.url, "a", lab.port) as a,
        node(tmp_path, redis_server.url, "b", lab.port) as b,
    ):
        assert a.daemon.cluster is not None and b.daemon.cluster is not None
        a_owner, b_owner = a.daemon.cluster.ownership, b.daemon.cluster.ownership
        assert a_owner is not None and b_owner is not None
        store = a.daemon.store
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_agent(
            "carol", password=PASSWORD, endpoints=(AgentEndpoint(CAROL_PHONE, "pbx2"),)
        )
        store.create_group(GroupSpec("Sales", members=("carol",)))
        for each in (a, b):
            await each.daemon.refresh_directory()
        async with await client(a, "root") as admin:
            added = await admin.post("/api/admin/servers", json=server_body("pbx2", pbx2))
            assert added.status_code == 201, added.text
        await a_owner.round()  # before b has followed the store: a takes pbx2's lease
        assert a.daemon.cluster.owns("pbx2")
        await until(lambda: "pbx2" in b.daemon.commands)  # b's registry followed the store
        await b_owner.round()
        await until(lambda: b_owner.owner_of("pbx2") == "a")
        assert not b.daemon.cluster.owns("pbx2")

        # One publisher a server: a, holding pbx2's session, sets its recording globals; b
        # sends none there (two generations taking turns would unset each other's values).
        await until(generation_set(pbx2, a.daemon.recording.generation))
        await b.daemon.recording.publish()
        assert not generation_set(pbx2, b.daemon.recording.generation)()
        # A policy set on b reaches pbx2 through a's next pass, which reads the store again.
        async with await client(b, "root") as admin:
            policy = await admin.put(
                "/api/supervisor/recording-policy", params={"group": "Sales"}, json=ALWAYS
            )
            assert policy.status_code == 200, policy.text
        stamped = f"always@{a.daemon.recording.generation}"
        assert not any(v.get("Value") == stamped for v in pbx2.actions("Setvar"))
        await a.daemon.recording.refresh()
        assert any(v.get("Value") == stamped for v in pbx2.actions("Setvar"))

        async with await client(b, "carol") as carol:
            dialled = await carol.post("/api/dial", json={"number": "1002"})
            assert dialled.status_code == 202, dialled.text
            [originate] = pbx2.actions("Originate")
            assert originate.get("Channel") == CAROL_PHONE and originate.get("Exten") == "1002"
            paused = await carol.post("/api/agent/state", json=PAUSE)
            assert paused.status_code == 200, paused.text
            assert (CAROL_PHONE, "true") in pauses(pbx2)
        assert pbx2.connections == 1  # a's session carried it all: b never opened one

        async with await client(b, "root") as admin:
            removed = await admin.delete("/api/admin/servers/pbx2")
            assert removed.status_code == 200, removed.text
        assert "pbx2" not in b.daemon.commands
        await until(lambda: "pbx2" not in a.daemon.commands)  # a followed the store
        async with await client(a, "carol") as carol:
            refused = await carol.post("/api/dial", json={"number": "1003"})
            assert refused.status_code == 403, refused.text
            assert refused.json()["details"]["reason"] == "no_server"
        assert len(pbx2.actions("Originate")) == 1
