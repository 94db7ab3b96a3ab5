"""Two ``Daemon`` nodes on one SQLite store and one private Redis, served by uvicorn on loopback.

No PBX (the AMI port is closed): node ``a``, started first, holds the lease of the server
``lab``; tests feed it recorded lab calls (:func:`ring`). Agents alice (PJSIP/1001) and bob
(PJSIP/1002) exist on both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from broker_adapters.redis import BrokerKeys, connect
from broker_adapters.redis.server import free_port
from cti.config import (
    AmiServerSettings,
    ClusterSettings,
    Settings,
    StoreSettings,
)
from cti.core.events import PbxEvent
from cti.daemon import Daemon
from tests.security.site import PASSWORD, Site, http_of, loopback_socket, served
from tests.transcript import events_of, frames

__all__ = ["lab_call", "lose_owner", "next_frame", "node", "ring", "two_nodes"]


@asynccontextmanager
async def node(
    workdir: Path, broker: str, name: str, ami_port: int, prefix: str
) -> AsyncIterator[Site]:
    """A started node ``name`` served on a free loopback port; drained and closed after."""
    sock = loopback_socket()
    http = http_of(sock)
    (workdir / name).mkdir(mode=0o700)
    daemon = Daemon(
        Settings(
            state_dir=workdir / name,
            store=StoreSettings(url=f"sqlite:///{workdir}/cti.sqlite3"),
            http=http,
            servers=(AmiServerSettings(name="lab", port=ami_port),),
            cluster=ClusterSettings(broker_url=broker, node_id=name, prefix=prefix),
        )
    )
    async with served(daemon, sock, http) as site:
        yield site


@asynccontextmanager
async def two_nodes(workdir: Path, broker: str, prefix: str) -> AsyncIterator[tuple[Site, Site]]:
    """(a, b): ``a`` owns the server ``lab``, ``b`` does not; alice and bob are agents."""
    ami_port = free_port()
    async with (
        node(workdir, broker, "a", ami_port, prefix) as a,
        node(workdir, broker, "b", ami_port, prefix) as b,
    ):
        store = a.daemon.store
        store.create_agent("alice", password=PASSWORD, endpoints=("PJSIP/1001",))
        store.create_agent("bob", password=PASSWORD, endpoints=("PJSIP/1002",))
        for site in (a, b):
            await site.daemon.refresh_directory()
        assert a.daemon.cluster is not None and a.daemon.cluster.owns("lab")
        assert b.daemon.cluster is not None and not b.daemon.cluster.owns("lab")
        yield a, b


def lab_call(name: str = "direct_answered") -> list[PbxEvent]:
    """The events of a recorded lab call (``direct_answered``: Ada's call to alice's phone)."""
    return events_of(frames(name))


def ring(owner: Daemon) -> str:
    """Feed the owner Ada's call until it rings alice's phone; return the call's id."""
    for event in lab_call()[:5]:  # ChannelCreated ... the Dial to PJSIP/1001: ringing, not over
        owner._on_event(event)
    [call_id] = owner.tracker.call_ids()
    return call_id


async def next_frame(ws: ClientConnection, kind: str, call_id: str) -> dict[str, Any]:
    """The data of the next ``kind`` frame (pop, pop_update, ...) of ``call_id`` on ``ws``."""
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind and frame["data"].get("call_id") == call_id:
                return dict(frame["data"])


async def lose_owner(nodes: tuple[Site, Site], broker: str, prefix: str) -> None:
    """Move ``lab``'s lease to a node that is not listening; both nodes see the new holder."""
    async with connect(broker) as client:
        await client.set(BrokerKeys(prefix).lease("lab"), "ghost", px=30_000)
    for site in nodes:
        assert site.daemon.cluster is not None and site.daemon.cluster.ownership is not None
        await site.daemon.cluster.ownership.round()  # a lets go; both read the new holder
        assert site.daemon.cluster.ownership.owner_of("lab") == "ghost"
