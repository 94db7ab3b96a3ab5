"""The admin console's servers: add, change and remove Asterisk servers, and their live state.

Wraps the :class:`~cti.admin.servers.ServerRegistry` with the event history and samples each
source's event rate every couple of seconds for the page and the ``cti_ami_*`` gauges.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cti.admin.history import AdminHistory
from cti.admin.metrics import AdminMetrics
from cti.admin.owned_task import OwnedTask
from cti.admin.servers import ServerRegistry, ServerSpec
from cti.errors import CtiError

__all__ = ["ServerAdmin"]

log = logging.getLogger(__name__)

_SAMPLE_S = 2.0


class ServerAdmin:
    """Servers as the admin page sees them; every change goes to the history with its actor."""

    def __init__(
        self, registry: ServerRegistry, history: AdminHistory, metrics: AdminMetrics
    ) -> None:
        self._registry = registry
        self._history = history
        self._metrics = metrics
        self._task = OwnedTask("admin-servers")

    async def start(self) -> None:
        """Start a source for every stored server, then sample their event rates."""
        await self._registry.start()
        self._task.start(self._sample())

    async def close(self) -> None:
        await self._task.stop()

    def stored(self) -> list[ServerSpec]:
        """The servers an admin added (the config file's are not stored)."""
        return self._registry.stored()

    def status(self) -> list[dict[str, Any]]:
        return self._registry.status()

    async def add(self, spec: ServerSpec, actor: str) -> None:
        await self._registry.add(spec)
        self._history.record("admin.server_added", _details(spec), actor)

    async def update(self, name: str, spec: ServerSpec, actor: str) -> None:
        await self._registry.update(name, spec)
        self._history.record("admin.server_changed", {"was": name, **_details(spec)}, actor)

    async def remove(self, name: str, actor: str) -> None:
        await self._registry.remove(name)
        self._history.record("admin.server_removed", {"name": name}, actor)

    def refresh_metrics(self) -> None:
        """Bring the per-server gauges up to date (GET /metrics)."""
        for server in self._registry.status():
            name = server["name"]
            self._metrics.ami_events_per_second.labels(name).set(server["events_per_second"])
            self._metrics.ami_resyncs.labels(name).set(server["resyncs"])

    async def _sample(self) -> None:
        while True:
            self._registry.sample()
            if self._registry.shared:  # a cluster: servers other nodes' admins changed
                try:
                    await self._registry.sync()
                except CtiError as exc:
                    log.warning("cannot follow the stored servers now (%s)", exc)
            await asyncio.sleep(_SAMPLE_S)


def _details(spec: ServerSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "host": spec.host,
        "port": spec.port,
        "username": spec.username,
        "tls": spec.tls,
        "tls_ca_file": spec.tls_ca_file,
        "tls_verify": spec.tls_verify,
    }
