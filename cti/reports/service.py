"""Historical reports: who may see what, read the buckets, figures per period and key, CSV.

Supervisors see their own groups: their groups' queues, members and DIDs, and the groups
themselves; admins see everything (trunks too). A key outside the asker's scope is refused
(403) when it exists and unknown (404) when it does not, so a supervisor learns nothing of
other groups beyond that they exist. Every read runs on the store's threads.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cti.errors import PermissionDenied
from cti.principal import Principal, Role
from cti.reports.query import (
    ReportRequest,
    UnknownKey,
    figures,
    parse_request,
    periods,
    roll_up,
)
from cti.reports.recorder import ReportStore
from cti.reports.rows import bucket_rows, period_rows, stored_keys
from cti.store.aio import AsyncStore
from cti.store.values import GroupInfo

__all__ = ["OutOfScope", "Reports", "ReportsStore", "report_csv"]


class OutOfScope(PermissionDenied):
    error_id = "report.scope"


class ReportsStore(ReportStore, Protocol):
    def groups(self) -> list[GroupInfo]: ...


_FIELDS = {"queue": "queues", "agent": "members", "did": "dids"}


def _scope(groups: Sequence[GroupInfo], dim: str) -> dict[str, tuple[str, ...]]:
    """Each report key of ``dim`` the groups name -> the stored keys it sums (queue keys)."""
    if dim == "group":
        return {g.name: g.spec.queues for g in groups}
    if dim == "trunk":
        return {}
    return {key: (key,) for g in groups for key in getattr(g.spec, _FIELDS[dim])}


class Reports:
    """Answer report requests from the stored buckets, in the site's time zone by default."""

    def __init__(
        self,
        store: AsyncStore[ReportsStore],
        site_tz: ZoneInfo,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.site_tz = site_tz
        self._clock = clock

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), self.site_tz).date()

    def day_request(self, day: date) -> ReportRequest:
        """The request of one local day of the site, by day, every key."""
        return ReportRequest("queue", "day", day, day, self.site_tz, None, "d")

    def queues_today(self, queues: Sequence[str]) -> dict[str, dict[str, float]]:
        """Today's figures of ``queues`` so far (the site's day buckets), for the wallboard; a
        blocking read: call it on the store's threads."""
        today = self.day_request(self.today())
        with self._store.store.reading("reports.today") as conn:
            rows = bucket_rows(
                conn, span="d", dim="queue", start=today.start, end=today.end, keys=list(queues)
            )
        figures: dict[str, dict[str, float]] = {}
        for _, key, metric, value in rows:
            figures.setdefault(key, {})[metric] = value
        return figures

    async def options(self, principal: Principal) -> dict[str, Any]:
        """What the report page offers ``principal``: the site's time zone and, per dimension,
        the keys they may ask for (trunks: those with figures, for admins only)."""
        _may_read(principal)
        return await self._store.run(self._options, principal)

    def _options(self, principal: Principal) -> dict[str, Any]:
        store = self._store.store
        admin = principal.role is Role.ADMIN
        mine = [g for g in store.groups() if admin or principal.username in g.spec.supervisors]
        keys = {dim: sorted(_scope(mine, dim)) for dim in ("queue", "group", "agent", "did")}
        if admin:
            with store.reading("reports.keys") as conn:
                keys["trunk"] = stored_keys(conn, "trunk")
        return {"tz": self.site_tz.key, "today": self.today().isoformat(), "keys": keys}

    async def report(self, principal: Principal, params: Mapping[str, str]) -> dict[str, Any]:
        """The figures of ``params`` (see :func:`parse_request`) that ``principal`` may see."""
        _may_read(principal)  # before a store thread is taken
        return await self._store.run(self.report_now, principal, params)

    async def answer(self, principal: Principal, request: ReportRequest) -> dict[str, Any]:
        """The figures of an already validated ``request``, from the buckets its span names
        (``cti bench reports`` times one request on two spans this way)."""
        _may_read(principal)
        return await self._store.run(self.read, principal, request)

    def report_now(self, principal: Principal, params: Mapping[str, str]) -> dict[str, Any]:
        """:meth:`report`, blocking: on a store thread, or in the report worker's process."""
        _may_read(principal)
        return self.read(principal, parse_request(params, self.site_tz, self.today()))

    def read(self, principal: Principal, request: ReportRequest) -> dict[str, Any]:
        """The figures of ``request`` that ``principal`` may see; blocking (a store thread)."""
        store = self._store.store
        groups = store.groups()
        everything = _scope(groups, request.dim)
        admin = principal.role is Role.ADMIN
        mine = [g for g in groups if admin or principal.username in g.spec.supervisors]
        allowed = _scope(mine, request.dim)
        if not admin and request.dim == "trunk":
            raise OutOfScope("trunk reports are for admins")
        keys = request.keys
        if keys is not None:
            for key in keys:
                if key not in allowed and not admin:
                    if key in everything:
                        raise OutOfScope(
                            f"{request.dim} {key!r} is not one you supervise",
                            details={"key": key[:128]},
                        )
                    raise UnknownKey(f"no such {request.dim} {key!r}", details={"key": key[:128]})
        wanted = keys if keys is not None else (None if admin else tuple(allowed))
        stored_dim = "queue" if request.dim == "group" else request.dim
        key_of: dict[str, list[str]] | None = None
        stored: Sequence[str] | None = wanted
        if request.dim == "group":
            key_of = {}
            for name in wanted if wanted is not None else list(everything):
                for queue in everything.get(name, ()):
                    key_of.setdefault(queue, []).append(name)
            stored = list(key_of)
        elif wanted is not None and admin is False:
            stored = [s for key in wanted for s in allowed.get(key, ())]
        with store.reading("reports.read") as conn:
            rows = period_rows(
                conn, span=request.span, dim=stored_dim, periods=periods(request), keys=stored
            )
        cells, totals = roll_up(rows, key_of)
        if keys is not None and admin:
            missing = [k for k in keys if k not in everything and k not in totals]
            if missing:
                raise UnknownKey(
                    f"no such {request.dim} {missing[0]!r} (none configured, no calls in range)",
                    details={"key": missing[0][:128]},
                )
        return _body(request, cells, totals)


def _may_read(principal: Principal) -> None:
    if principal.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise PermissionDenied("reports are for supervisors and admins")


def _body(
    request: ReportRequest,
    cells: Mapping[tuple[str, str], dict[str, float]],
    totals: Mapping[str, dict[str, float]],
) -> dict[str, Any]:
    rows = [
        {"period": period, "key": key, **figures(request.dim, raw)}
        for (period, key), raw in sorted(cells.items())
    ]
    total_rows = [{"key": key, **figures(request.dim, raw)} for key, raw in sorted(totals.items())]
    columns: list[str] = list(figures(request.dim, {}))
    for row in total_rows:
        columns += [c for c in row if c != "key" and c not in columns]
    return {
        "dim": request.dim,
        "by": request.by,
        "tz": request.tz.key,
        "from": request.first.isoformat(),
        "to": request.last.isoformat(),
        "columns": columns,
        "rows": rows,
        "totals": total_rows,
    }


def report_csv(report: Mapping[str, Any]) -> str:
    """The report as CSV: one line per period and key, then one total line per key."""
    out = io.StringIO()
    columns: list[str] = list(report["columns"])
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["period", report["dim"], *columns])
    for row in report["rows"]:
        writer.writerow([row["period"], _safe(row["key"]), *(_cell(row.get(c)) for c in columns)])
    for row in report["totals"]:
        writer.writerow(["total", _safe(row["key"]), *(_cell(row.get(c)) for c in columns)])
    return out.getvalue()


def _cell(value: object) -> str:
    """A figure as the page shows it: 1234567 and 77.8, never 1.23457e+06 (``:g`` rounds to six
    digits, which a month of talk seconds passes)."""
    return "" if value is None else f"{value:.15g}" if isinstance(value, float) else str(value)


def _safe(text: str) -> str:
    """Keep a spreadsheet from running a key as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
