"""``GET /api/admin/cluster``: the nodes of a cluster and which node owns which AMI session.

The admin console's Servers tab shows it beside the servers (``static/admin/cluster.js``). It is
the cluster part of ``/healthz`` (``cti.cluster.node.ClusterNode.status``) behind an admin
session: this node, every node's last heartbeat and what it owns, each server's owner, the
broker's state. A single process (no ``[cluster] broker_url``) answers ``{"enabled": false}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.web import route_auth
from cti.principal import Action, require

__all__ = ["ClusterStatus", "cluster_routes"]

ClusterStatus = Callable[[], Awaitable[dict[str, object]]]


def cluster_routes(status: ClusterStatus | None) -> list[BaseRoute]:
    """The route, given the node's status reader (None: one process, no cluster)."""

    async def cluster(request: Request) -> Response:
        require(route_auth(request).session(request).principal, Action.ADMINISTER_PBX)
        if status is None:
            return JSONResponse({"enabled": False}, headers={"Cache-Control": "no-store"})
        body = {"enabled": True, **await status()}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return [Route("/api/admin/cluster", cluster, methods=["GET"])]
