"""One node of a cluster: its fan-out, its AMI leases and the requests other nodes send it.

The root builds a :class:`ClusterNode` only when ``[cluster] broker_url`` is set, from the
broker adapter's parts, and hands it the hooks that open and close a server's AMI session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cti.cluster.actions import OwnedActions, answer
from cti.cluster.fanout import Fanout
from cti.cluster.ownership import Leases, Ownership, ServerHook
from cti.cluster.pops import QUESTION_KIND, CallPops, OwnedPops, answer_pop
from cti.errors import BrokerUnavailable
from pbx_adapters.asterisk.commands import ActionSender

__all__ = ["ClusterNode", "LeasedSources", "NodeRequests"]


class NodeRequests(Protocol):
    """Request/reply between nodes (``broker_adapters.redis.requests``)."""

    async def start(self, handler: Any) -> None: ...
    async def close(self) -> None: ...
    async def ask(self, node: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]: ...


class ClusterNode:
    """Everything one node shares with the others through the broker."""

    def __init__(
        self,
        node: str,
        *,
        fanout: Fanout,
        leases: Leases,
        requests: NodeRequests,
        servers: Sequence[str],
        lease_ttl_s: float,
        request_timeout_s: float,
    ) -> None:
        self.node = node
        self.fanout = fanout
        self._leases, self._requests = leases, requests
        self._servers, self._ttl, self._timeout = tuple(servers), lease_ttl_s, request_timeout_s
        self._locals: dict[str, Callable[[], ActionSender]] = {}
        self._pops: CallPops | None = None
        self.ownership: Ownership | None = None

    def owns(self, server: str) -> bool:
        return self.ownership is not None and self.ownership.owns(server)

    def actions(self, server: str, local: Callable[[], ActionSender]) -> OwnedActions:
        """The ActionSender of ``server`` on this node: local if we own it, else its owner."""
        self._locals[server] = local
        return OwnedActions(server, local, self._owner_view(), self._requests, self._timeout)

    def pops(self, local: CallPops) -> OwnedPops:
        """The questions about a call's pop on this node: ``local`` answers for the calls of
        the servers we own (for the other nodes too), their owners for the rest."""
        self._pops = local
        return OwnedPops(local, self._owner_view(), self._requests, self._timeout)

    async def start(self, on_gained: ServerHook, on_lost: ServerHook) -> None:
        """Join: the fan-out, then requests, then the leases (which may open sessions)."""
        await self.fanout.start()
        ownership = self._owner_view()
        ownership.hooks(on_gained, on_lost)
        await self._requests.start(self._answer)
        await ownership.start()

    async def close(self) -> None:
        """Leave: owned sessions close and their leases are handed back at once."""
        if self.ownership is not None:
            await self.ownership.close()
        await self._requests.close()
        await self.fanout.close()

    async def status(self) -> dict[str, object]:
        """This node, who owns each server, and every node's last heartbeat (for /healthz)."""
        ownership = self._owner_view()
        body: dict[str, object] = {
            "node": self.node,
            "owns": sorted(s for s in ownership.servers if ownership.owns(s)),
            "owners": dict(ownership.owners),
            "takeovers": ownership.takeovers,
        }
        try:
            now = time.time()
            nodes = await self._leases.nodes()
            body["nodes"] = {
                name: {"owns": beat.get("owns", []), "seen_s_ago": round(now - _at(beat), 1)}
                for name, beat in sorted(nodes.items())
            }
            body["broker"] = "ok"
        except BrokerUnavailable as exc:
            body["broker"] = f"unreachable: {exc.message}"
        return body

    def _owner_view(self) -> Ownership:
        if self.ownership is None:
            self.ownership = Ownership(
                self._leases,
                self.node,
                self._servers,
                ttl_s=self._ttl,
                on_gained=_nothing,
                on_lost=_nothing,
            )
        return self.ownership

    async def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Another node's request: a question about a pop, else (no ``kind``) an AMI action."""
        if body.get("kind") == QUESTION_KIND:
            return answer_pop(body, self._owner_view(), self._pops)
        return await answer(body, self._owner_view(), lambda server: self._locals[server]())


class _Source(Protocol):
    name: str

    async def close(self) -> None: ...


class LeasedSources:
    """How an admin-added server's AMI source runs in a cluster: not at once, but on the node
    holding its lease (``Daemon._gain_server`` starts it there). Every node runs one for every
    stored server (the admin registry follows the store), so any node can take over."""

    def __init__(self, node: ClusterNode) -> None:
        self._node = node

    async def run(self, source: _Source) -> None:
        self._node._owner_view().add(source.name)

    async def stop(self, source: _Source) -> None:
        await self._node._owner_view().remove(source.name)
        await source.close()


async def _nothing(server: str) -> None:
    del server


def _at(beat: dict[str, object]) -> float:
    at = beat.get("at")
    return float(at) if isinstance(at, int | float) else 0.0
