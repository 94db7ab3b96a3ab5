"""The admin home page's figures: counts, today's calls, recent activity, a light per subsystem.

The counts are ``COUNT(*)`` of a few small configuration tables; today's calls come from the
day buckets of the report store (never from call rows); the activity is the newest entries of
the audit history. The lights are the root's to give (it alone knows the AMI sessions, the CRM
connectors and the outbox): a :class:`StatusSource` returns them; the store's own light is
whether it answered these reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import Table, func, select

from cti.errors import CtiError
from cti.reports.buckets import MAX_SUFFIX
from cti.reports.recorder import ReportStore
from cti.reports.rows import bucket_rows
from cti.reports.service import Reports
from cti.store.access_tables import access_pools
from cti.store.aio import AsyncStore
from cti.store.models import agent_groups, agents
from cti.store.site_tables import site_devices, site_locations, site_numbers
from cti.store.values import EventEntry

__all__ = ["Dashboard", "Light", "StatusSource"]

Colour = Literal["green", "yellow", "grey", "red"]


@dataclass(frozen=True, slots=True)
class Light:
    """One subsystem's state: green working, yellow degraded, grey inactive, red down."""

    kind: str  # ami, trunk, crm, outbox, store
    name: str
    colour: Colour
    reason: str


StatusSource = Callable[[], list[Light]]


class DashboardStore(ReportStore, Protocol):
    def events(self, *, limit: int = 100) -> list[EventEntry]: ...


_COUNTED: dict[str, Table] = {
    "users": agents,
    "groups": agent_groups,
    "locations": site_locations,
    "devices": site_devices,
    "numbers": site_numbers,
    "pools": access_pools,
}


class Dashboard:
    """Build the admin home page's body on the store's threads."""

    def __init__(
        self, store: AsyncStore[DashboardStore], reports: Reports, status: StatusSource
    ) -> None:
        self._store = store
        self._reports = reports
        self._status = status

    async def home(self) -> dict[str, Any]:
        lights = self._status()
        try:
            body = await self._store.run(self._read)
        except CtiError as exc:
            store_light = Light("store", "store", "red", exc.message)
            body = {"counts": {}, "today": {}, "activity": []}
        else:
            store_light = Light("store", "store", "green", "answering")
        body["status"] = [asdict(light) for light in (*lights, store_light)]
        return body

    def _read(self) -> dict[str, Any]:
        store = self._store.store
        today = self._reports.today()
        request = self._reports.day_request(today)
        with store.reading("dashboard") as conn:
            counts = {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in _COUNTED.items()
            }
            queues = bucket_rows(
                conn, span="d", dim="queue", start=request.start, end=request.end, keys=None
            )
            calls = bucket_rows(
                conn, span="d", dim="did", start=request.start, end=request.end, keys=None
            )
        summary: dict[str, float] = {}
        for _start, _key, metric, value in queues:
            old = summary.get(metric, 0.0)
            summary[metric] = max(old, value) if metric.endswith(MAX_SUFFIX) else old + value
        summary["inbound"] = sum(v for _s, _k, m, v in calls if m == "offered")
        activity = [
            {"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind}
            for e in store.events(limit=10)
        ]
        return {
            "counts": counts,
            "today": _today(summary, today.isoformat()),
            "activity": activity,
        }


def _today(raw: dict[str, float], day: str) -> dict[str, Any]:
    """Today's queue figures (the day bucket of every queue) and inbound calls (by DID)."""
    answered = raw.get("answered", 0.0)
    return {
        "day": day,
        "inbound": raw.get("inbound", 0.0),
        "offered": raw.get("offered", 0.0),
        "answered": answered,
        "abandoned": raw.get("abandoned", 0.0),
        "asa_s": round(raw.get("wait_answered", 0.0) / answered, 1) if answered else None,
        "longest_wait_s": raw.get("wait_max"),
    }
