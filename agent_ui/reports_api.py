"""The reports' JSON API and CSV export, and the admin home page's figures.

``GET /api/reports`` takes ``dim`` (queue, group, agent, did, trunk), ``by`` (15m, hour, day,
week, month), ``from`` and ``to`` (local dates, both included), ``tz`` (IANA; the site's by
default) and ``keys`` (comma-separated; every key the asker may see by default), and answers
``{dim, by, tz, from, to, columns, rows: [{period, key, ...figures}], totals: [{key, ...}]}``.
``GET /api/reports.csv`` answers the same figures as CSV (the page's export). Supervisors see
their own groups, admins everything (cti.reports.service); errors carry a stable id and status
(``report.range`` 422, ``report.time_zone`` 422, ``report.scope`` 403, ``report.unknown`` 404).
``GET /api/reports/options`` answers the site's time zone and the keys the asker may pick.
``GET /api/admin/dashboard`` (admins) answers counts, today's calls, recent activity and status.
Documented for customers' own BI tools in docs/reports.md.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from cti.principal import Action, require
from cti.reports.dashboard import Dashboard
from cti.reports.service import Reports
from cti.reports.worker import ReportWorker

__all__ = ["report_routes"]


class _ReportsApi:
    def __init__(self, worker: ReportWorker, reports: Reports, dashboard: Dashboard) -> None:
        self.worker = worker
        self.reports = reports
        self.dashboard = dashboard

    async def report(self, request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        body = await self.worker.json(principal, dict(request.query_params))
        return Response(body, media_type="application/json", headers=NO_STORE)

    async def options(self, request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        return JSONResponse(await self.reports.options(principal), headers=NO_STORE)

    async def report_csv(self, request: Request) -> Response:
        principal = route_auth(request).session(request).principal
        name, text = await self.worker.csv(principal, dict(request.query_params))
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={**NO_STORE, "content-disposition": f'attachment; filename="{name}"'},
        )

    async def home(self, request: Request) -> Response:
        require(route_auth(request).session(request).principal, Action.ADMINISTER_PBX)
        return JSONResponse(await self.dashboard.home(), headers=NO_STORE)


def report_routes(worker: ReportWorker, reports: Reports, dashboard: Dashboard) -> list[BaseRoute]:
    """``worker`` answers the reports and their CSV, ``reports`` the page's options."""
    api = _ReportsApi(worker, reports, dashboard)
    return [
        Route("/api/reports", api.report, methods=["GET"]),
        Route("/api/reports.csv", api.report_csv, methods=["GET"]),
        Route("/api/reports/options", api.options, methods=["GET"]),
        Route("/api/admin/dashboard", api.home, methods=["GET"]),
    ]
