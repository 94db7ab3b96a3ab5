"""``cti demo --nodes N``: the demo as a cluster: a private Redis, one PostgreSQL store, N nodes.

What a cluster needs beyond one daemon (docs/scale-out.md), made on this machine: a
``redis-server`` of the demo's own on a free loopback port (``broker_adapters.redis.server``),
a PostgreSQL database (the configured ``[store] url`` when it is PostgreSQL, else ``cti_demo``
on the loopback server, created if missing), the same session secret and ``secrets.key`` for
every node, and one ``cti serve --node-id`` process per node on consecutive ports. Any node
serves any agent; the first to start owns the lab's AMI session; stopping one (Ctrl-C here
stops all, ``kill`` on a node's pid shows a take-over) hands its work to the others.

When a piece is missing (no ``redis-server``, no PostgreSQL on loopback) :func:`cluster_problem`
says which, and the caller runs the single-process demo instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from broker_adapters.redis.server import RedisServer
from cti.config import Settings
from cti.demo.phones import DemoPhones
from cti.errors import BrokerUnavailable
from cti.private_files import create_private_file, ensure_private_dir
from cti.secretbox import SecretBox

__all__ = ["DemoNode", "cluster_problem", "demo_store_url", "run_nodes", "serve_cluster"]

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/cti_demo"


@dataclass(slots=True)
class DemoNode:
    """One ``cti serve`` of the demo cluster."""

    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def demo_store_url(settings: Settings) -> str:
    """The configured store if it is PostgreSQL, else the loopback server's ``cti_demo``."""
    url = settings.store.url
    return url if url.startswith("postgresql") else LOCAL_POSTGRES


def cluster_problem(store_url: str) -> str | None:
    """Why a cluster cannot run here (None: it can); creates the demo database if missing."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (apt-get install redis-server)"
    parts = make_url(store_url)
    admin = psycopg.conninfo.make_conninfo(
        host=parts.host or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
        connect_timeout=3,
    )
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            name = parts.database or "cti_demo"
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL is not reachable at {parts.host}:{parts.port or 5432} ({first})"
    return None


def node_env(
    settings: Settings, node: DemoNode, *, broker: str, prefix: str, state_dir: Path, secret: str
) -> dict[str, str]:
    """The ``CTI_*`` settings of one node: the demo's, with its port, state and node id."""
    lab = settings.servers[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    return {
        **env,
        "CTI_STORE__URL": settings.store.url,
        "CTI_STATE_DIR": str(state_dir),
        "CTI_HTTP__PORT": str(node.port),
        "CTI_HTTP__PUBLIC_ORIGIN": node.url,
        "CTI_HTTP__SESSION_SECRET": secret,
        "CTI_CLUSTER__BROKER_URL": broker,
        "CTI_CLUSTER__PREFIX": prefix,
        "CTI_SERVERS": json.dumps([_server(lab.model_dump(mode="json"), lab.secret)]),
        "CTI_WEBPHONE__WS_URL": settings.webphone.ws_url or "",
        "CTI_WEBPHONE__LAB_PASSWORDS": "true",
        "CTI_TEST_CALLS__CALLER_NUMBER": settings.test_calls.caller_number,
        "CTI_TEST_CALLS__CALLER_NAME": settings.test_calls.caller_name,
    }


def _server(dumped: dict[str, Any], secret: Any) -> dict[str, Any]:
    keep = ("name", "host", "port", "username", "tls")
    return {**{k: dumped[k] for k in keep if k in dumped}, "secret": secret.get_secret_value()}


def _shared_state(base: Path, names: list[str]) -> dict[str, Path]:
    """A state directory per node, all holding the key the demo's own state directory has."""
    ensure_private_dir(base)
    SecretBox.for_state_dir(base)  # made on first use
    key = (base / "secrets.key").read_bytes()
    dirs = {}
    for name in names:
        state = base / "nodes" / name
        ensure_private_dir(state.parent)
        ensure_private_dir(state)
        create_private_file(state / "secrets.key", key)
        if (state / "secrets.key").read_bytes() != key:
            raise BrokerUnavailable(f"{state / 'secrets.key'} differs from the demo's key")
        dirs[name] = state
    return dirs


@contextmanager
def run_nodes(
    settings: Settings,
    count: int,
    config_file: Path | None,
    echo: Callable[[str], Any],
) -> Iterator[list[DemoNode]]:
    """Start the broker and ``count`` nodes (on ``settings.http.port`` and up); stop them all."""
    base = settings.state_dir / "demo-cluster"
    redis = RedisServer(base / "redis")
    redis.start()
    echo(f"demo: broker redis-server on {redis.url} (data in {base / 'redis'})")
    nodes = [DemoNode(f"node{i + 1}", settings.http.port + i) for i in range(count)]
    states = _shared_state(base, [n.name for n in nodes])
    secret = secrets.token_urlsafe(48)
    prefix = f"demo{secrets.token_hex(3)}"
    config = ["--config", str(config_file)] if config_file else []
    try:
        for node in nodes:
            env = node_env(
                settings,
                node,
                broker=redis.url,
                prefix=prefix,
                state_dir=states[node.name],
                secret=secret,
            )
            log = (states[node.name] / "serve.log").open("ab")
            command = [sys.executable, "-m", "cti.cli", *config, "serve", "--node-id", node.name]
            node.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            log.close()
            _wait_serving(node, states[node.name] / "serve.log")
            echo(f"demo: {node.name} (pid {node.process.pid}) at {node.url}/agent")
        yield nodes
    finally:
        echo("demo: stopping the nodes and the broker")
        _stop_all(nodes, echo)
        redis.stop()


def _wait_serving(node: DemoNode, log: Path, timeout_s: float = 60.0) -> None:
    """Until ``node`` accepts connections; raise with its log's tail if it exits."""
    deadline = time.monotonic() + timeout_s
    assert node.process is not None
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise BrokerUnavailable(f"{node.name} exited: " + " | ".join(tail))
        try:
            with socket.create_connection(("127.0.0.1", node.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise BrokerUnavailable(f"{node.name} did not serve on port {node.port} in {timeout_s:g} s")


def _stop_all(
    nodes: Sequence[DemoNode], echo: Callable[[str], Any], timeout_s: float = 20.0
) -> None:
    """SIGTERM every node at once, then wait for them together: a node slow to stop costs its
    own grace, not the others' too. One still running at the deadline says why (its threads'
    stacks, from `cti`'s SIGUSR1 handler, go to its log) and is killed."""
    running = [n for n in nodes if n.process is not None and n.process.poll() is None]
    for node in running:
        assert node.process is not None
        node.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for node in running:
        assert node.process is not None
        try:
            node.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            echo(f"demo: {node.name} did not stop in {timeout_s:g} s; its stacks are in its log")
            node.process.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            node.process.kill()
            node.process.wait()


def serve_cluster(
    settings: Settings,
    count: int,
    config_file: Path | None,
    phones: DemoPhones | None,
    echo: Callable[[str], Any],
) -> None:
    """Run the demo cluster (and the simulated phones) until Ctrl-C or SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with run_nodes(settings, count, config_file, echo) as nodes:
            echo(
                f"demo: {count} nodes share one store and one broker; sign in on any of them "
                f"(alice / alice-demo on {nodes[0].url}/agent, root / root-demo on "
                f"{nodes[-1].url}/admin: its status shows which node owns the lab's AMI); "
                f"kill a node's pid to watch another take over; Ctrl-C stops them all"
            )
            asyncio.run(_until_stopped(phones))
    except KeyboardInterrupt:
        pass  # Ctrl-C while the nodes were starting: run_nodes stopped them, and said so
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _until_stopped(phones: DemoPhones | None) -> None:
    """Until Ctrl-C or SIGTERM, handled by the loop itself. asyncio.run handles Ctrl-C only when
    SIGINT has Python's default handler; a demo started as a script's background job inherits
    SIGINT ignored (bash sets that, and exec keeps it), so Ctrl-C to its group stopped the nodes
    and the broker, which handle it themselves, but not the demo (CI ran it so)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    waiting: list[asyncio.Task[object]] = [
        asyncio.create_task(stopping.wait(), name="demo until stopped")
    ]
    if phones is not None:
        waiting.append(asyncio.create_task(phones.run(), name="demo phones"))
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # the phones failing stops the demo with their error, as before
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
