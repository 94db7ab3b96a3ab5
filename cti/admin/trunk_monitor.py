"""The admin console's trunks: their reachability and registrations, from AMI events and from a
periodic listing through the admin credential, with the ``cti_trunk_*`` metrics.

:meth:`TrunkMonitor.on_event` runs on the AMI read path (never blocks); the pure bookkeeping is
:class:`~cti.admin.trunks.TrunkBook`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from cti.admin.admin_link import AdminLink
from cti.admin.history import AdminHistory
from cti.admin.metrics import AdminMetrics
from cti.admin.owned_task import OwnedTask
from cti.admin.trunks import TrunkBook, TrunkChange, TrunkState
from cti.config import ProvisioningSettings
from cti.core.events import ContactStatusChanged, PbxEvent
from cti.core.updates import CallView
from cti.errors import CtiError

__all__ = ["TrunkMonitor"]

log = logging.getLogger(__name__)

_STATES = {True: "reachable", False: "unreachable", None: "unknown"}


class TrunkMonitor:
    """Trunk states for the admin page and the metrics; changes are logged to the history."""

    def __init__(
        self,
        settings: ProvisioningSettings,
        link: AdminLink,
        history: AdminHistory,
        metrics: AdminMetrics,
        *,
        active_calls: Callable[[], Sequence[CallView]],
        is_agent_endpoint: Callable[[str], bool],
    ) -> None:
        self._settings = settings
        self._link = link
        self._history = history
        self._metrics = metrics
        self._active_calls = active_calls
        self._book = TrunkBook(is_agent_endpoint)
        self._task = OwnedTask("admin-trunks")

    def start(self) -> None:
        self._task.start(self._poll())

    async def close(self) -> None:
        await self._task.stop()

    def on_event(self, event: PbxEvent) -> None:
        """The AMI read path: trunk contact status. Never blocks."""
        if isinstance(event, ContactStatusChanged):
            self._changed(self._book.contact_status(event))

    def forget_server(self, name: str) -> None:
        """A server was removed: its trunks go with it."""
        self._book.forget_server(name)

    async def discover(self) -> None:
        """List the trunks of the provisioning server (admin credential) with their contacts."""
        admin = await self._link.pjsip()
        server = self._settings.server
        assert server is not None
        now = time.time()
        for endpoint in await admin.endpoints():
            if endpoint.is_trunk:
                detail = await admin.trunk_detail(endpoint.name)
                self._changed(self._book.discovered(server, detail, now))
        for registration in await admin.registrations():
            self._changed(self._book.registration(server, registration, now))

    def status(self) -> list[dict[str, Any]]:
        """Every trunk with its state and calls in progress; updates the trunk gauges."""
        calls: dict[tuple[str, str], int] = {}
        for call in self._active_calls():
            if call.trunk:
                key = (call.server, call.trunk)
                calls[key] = calls.get(key, 0) + 1
        out = []
        for trunk in self._book.states():
            count = calls.get((trunk.server, trunk.name), 0)
            self._gauge(trunk, count)
            out.append(_trunk_view(trunk, count))
        return out

    def refresh_metrics(self) -> None:
        """Bring the trunk gauges up to date (GET /metrics)."""
        self.status()

    def _gauge(self, trunk: TrunkState, calls: int) -> None:
        labels = (trunk.server, trunk.name)
        self._metrics.trunk_calls.labels(*labels).set(calls)
        if trunk.reachable is not None:
            self._metrics.trunk_reachable.labels(*labels).set(1 if trunk.reachable else 0)
        if trunk.rtt_ms is not None:
            self._metrics.trunk_rtt.labels(*labels).set(trunk.rtt_ms / 1000)

    def _changed(self, changes: Sequence[TrunkChange]) -> None:
        for change in changes:
            self._metrics.trunk_events.labels(change.server, change.trunk, change.kind).inc()
            log.warning("trunk %s on %s: %s", change.trunk, change.server, change.kind)
            details = {"server": change.server, "trunk": change.trunk, **change.details}
            self._history.record(change.kind, details, None)

    async def _poll(self) -> None:
        while True:
            try:
                await self.discover()
            except CtiError as exc:
                log.info("trunk discovery skipped: %s", exc.message)
            await asyncio.sleep(self._settings.trunk_poll_s)


def _trunk_view(trunk: TrunkState, calls: int) -> dict[str, Any]:
    return {
        "server": trunk.server,
        "name": trunk.name,
        "reachable": trunk.reachable,
        "state": _STATES[trunk.reachable],
        "rtt_ms": trunk.rtt_ms,
        "registration": trunk.registration,
        "matches": list(trunk.matches),
        "qualify_s": trunk.qualify_s,
        "calls": calls,
        "contacts": [
            {"uri": c.uri, "status": c.status, "rtt_ms": c.rtt_ms, "since": c.since}
            for c in trunk.contacts.values()
        ],
    }
