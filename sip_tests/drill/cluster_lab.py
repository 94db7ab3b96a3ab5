"""Three ``cti serve`` nodes on the lab: a private Redis, one PostgreSQL store, shared secrets.

What a cluster needs beyond one daemon (docs/scale-out.md): the same ``[store] url``
(PostgreSQL), the same ``[http] session_secret`` (a cookie signed on one node is read on all),
the same ``secrets.key`` in every state directory, ``[cluster] broker_url`` and a node id each.
:func:`cluster_lab` starts all of it on a lab instance, with a ``redis-server`` of its own
(``broker_adapters.redis.server``) so a drill can restart it; :func:`scratch_database` makes a
throwaway PostgreSQL database when no test fixture gave one.

Agents log in on any node (:meth:`ClusterLab.login`) and open tabs
(``sip_tests.drill.stream_client.StreamTab``) on the node they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.fernet import Fernet
from psycopg import sql

from broker_adapters.redis.server import RedisServer
from cti.errors import LabError
from cti.private_files import create_private_file, ensure_private_dir
from sip_tests.cdr import CdrLog
from sip_tests.daemon import DaemonProcess
from sip_tests.drill.lab_run import EXTRA_AGENTS, _add_extra_agents, start_drill_lab
from sip_tests.lab import LabHandle, ami_server

__all__ = ["AGENT_LOGINS", "SERVER", "ClusterLab", "Node", "cluster_lab", "scratch_database"]

SERVER = "lab"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@contextlib.contextmanager
def scratch_database(admin_dsn: str = PG_ADMIN_DSN) -> Iterator[str]:
    """Create a uniquely named database on the loopback PostgreSQL; yield its URL; drop it."""
    name = f"cti_drill_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise LabError(f"PostgreSQL on loopback is needed for a cluster ({exc})") from exc
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(slots=True)
class Node:
    """One ``cti serve`` of the cluster; ``alive`` is False once the drill killed it."""

    name: str
    process: DaemonProcess
    alive: bool = True

    @property
    def origin(self) -> str:
        return self.process.origin

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.process.port}/ws"

    async def health(self) -> dict[str, Any]:
        """This node's ``/healthz`` body ({} when it does not answer)."""
        try:
            async with httpx.AsyncClient(base_url=self.origin, timeout=2) as http:
                body: dict[str, Any] = (await http.get("/healthz")).json()
        except (httpx.HTTPError, ValueError):
            return {}
        return body

    async def ami_up(self) -> bool:
        """Whether this node owns the lab's AMI session and is logged in on it."""
        body = await self.health()
        return SERVER in body.get("cluster", {}).get("owns", []) and bool(
            body.get("ami", {}).get(SERVER)
        )


@dataclass(slots=True)
class ClusterLab:
    """The lab, the broker, the store and the nodes of one drill run."""

    lab: LabHandle
    redis: RedisServer
    store_url: str
    nodes: list[Node]
    cdr: CdrLog
    cdr_mark: int

    def live(self) -> list[Node]:
        return [node for node in self.nodes if node.alive]

    async def owner(self) -> Node | None:
        """The node holding the lab's AMI session now, logged in (None: none yet)."""
        for node in self.live():
            if await node.ami_up():
                return node
        return None

    async def login(self, node: Node, username: str, password: str) -> str:
        """Sign ``username`` in on ``node``; return the session cookie's value."""
        async with httpx.AsyncClient(base_url=node.origin, timeout=10) as http:
            reply = await http.post("/login", json={"username": username, "password": password})
            if reply.status_code != 200:
                raise LabError(f"login of {username} on {node.name}: {reply.status_code}")
            return str(reply.cookies["cti_session"])

    def kill(self, node: Node) -> None:
        """kill -9: no drain, no lease released, sockets reset by the kernel."""
        assert node.process.proc is not None
        node.process.proc.kill()
        node.process.proc.wait()
        node.alive = False


def _shared_state(workdir: Path, names: Sequence[str]) -> None:
    """Every node's state directory holds the same secrets.key (sealed secrets in the store)."""
    key = Fernet.generate_key()
    for name in names:
        state = workdir / name / "state"
        (workdir / name).mkdir(parents=True, exist_ok=True)
        ensure_private_dir(state)
        create_private_file(state / "secrets.key", key)


def _node(lab: LabHandle, workdir: Path, name: str, env: dict[str, str]) -> DaemonProcess:
    node_env = {
        **env,
        "CTI_CLUSTER__NODE_ID": name,
        "CTI_SERVERS": json.dumps([ami_server(lab)]),
    }
    return DaemonProcess(lab, workdir / name, extra_env=node_env)


@contextlib.asynccontextmanager
async def cluster_lab(
    offset: int,
    workdir: Path,
    store_url: str,
    *,
    names: Sequence[str] = ("a", "b", "c"),
    lease_ttl_s: float = 3.0,
) -> AsyncIterator[ClusterLab]:
    """Run ``names`` nodes on lab instance ``offset``, a private Redis and ``store_url``
    (PostgreSQL); the first node started owns AMI. Everything is stopped at the end."""
    lab = await asyncio.to_thread(start_drill_lab, offset)
    redis = RedisServer(workdir / "redis")
    await asyncio.to_thread(redis.start)
    _shared_state(workdir, names)
    env = {
        "CTI_STORE__URL": store_url,
        "CTI_HTTP__SESSION_SECRET": secrets.token_urlsafe(48),
        "CTI_CLUSTER__BROKER_URL": redis.url,
        "CTI_CLUSTER__PREFIX": f"drill{uuid.uuid4().hex[:6]}",
        "CTI_CLUSTER__LEASE_TTL_S": str(lease_ttl_s),
    }
    nodes = [Node(name, _node(lab, workdir, name, env)) for name in names]
    seeded = await asyncio.to_thread(nodes[0].process.cli, "seed")
    if seeded.returncode != 0:
        await asyncio.to_thread(redis.stop)
        raise LabError(f"cti seed failed: {seeded.stderr}")
    await asyncio.to_thread(_add_extra_agents, store_url)
    cdr = CdrLog(lab.instance.cdr_file())
    codes: dict[str, int | None] = {}
    try:
        for node in nodes:  # one after the other: the first takes the lease
            await asyncio.to_thread(node.process.start)
        yield ClusterLab(lab, redis, store_url, nodes, cdr, cdr.mark())
    finally:
        for node in nodes:
            code = await asyncio.to_thread(node.process.stop)
            if node.alive:
                codes[node.name] = code
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(lab.hangup_all)
    failed = {name: code for name, code in codes.items() if code != 0}
    if failed:
        tails = "\n".join(n.process.log_tail(15) for n in nodes if n.name in failed)
        raise LabError(f"nodes exited with {failed}: {tails}")


#: Every agent with a lab phone, with the password the seed (or the drill) gave it.
AGENT_LOGINS = {
    **{name: (f"10{n:02d}", f"{name}-demo") for n, name in
       enumerate(("alice", "bob", "carol", "dave", "erin"), start=1)},
    **{name: (endpoint[-4:], f"{name}-drill") for name, endpoint in EXTRA_AGENTS.items()},
}  # fmt: skip
