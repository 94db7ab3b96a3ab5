"""The reports API on the real web app (ASGI) and a real SQLite store: JSON, CSV, the admin
home page, and the errors of bad or out-of-scope requests (status and stable id)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from agent_ui.hub import AgentHub
from agent_ui.reports_api import report_routes
from agent_ui.web import create_app
from cti.config import HttpSettings
from cti.core.tracker import CallTracker
from cti.principal import Principal, Role
from cti.reports.buckets import Counting
from cti.reports.dashboard import Dashboard, Light
from cti.reports.recorder import FactRecorder
from cti.reports.service import Reports
from cti.reports.worker import ReportWorker
from cti.store import GroupSpec, Store
from tests.transcript import events_of, frames, is_agent

ORIGIN = "http://127.0.0.1:8080"
TZ = ZoneInfo("UTC")
ROLES = {"alice": Role.AGENT, "root": Role.ADMIN, "sue": Role.SUPERVISOR, "tom": Role.SUPERVISOR}


class _Users:
    def verify(self, username: str, password: str) -> Principal | None:
        role = ROLES.get(username)
        return Principal(username, username, role) if role else None


@pytest.fixture(params=["process", "inline"])
async def api(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """Every test twice: answered by the report worker's process, and on the store's threads."""
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    store = Store(url)
    store.upgrade()
    for name in ("sue", "tom"):
        store.create_agent(name, role="supervisor")
    store.create_group(GroupSpec(name="Sales", queues=("sales",), supervisors=("sue",)))
    store.create_group(GroupSpec(name="Support", queues=("support",), supervisors=("tom",)))
    recorder = FactRecorder(store.aio, Counting(TZ), lambda e: e)
    tracker = CallTracker(is_agent)
    events = events_of(frames("queue_abandoned")) + events_of(
        frames("queue_ringall_second_answers")
    )
    for event in events:
        recorder.observe(event, tracker.feed(event))
    await recorder.flush()
    with store.reading("test") as conn:
        start = conn.exec_driver_sql(
            "SELECT min(start) FROM report_buckets WHERE span='d'"
        ).scalar()
    day = datetime.fromtimestamp(int(start), UTC).date().isoformat()
    reports = Reports(store.aio, TZ)
    lights = [Light("ami", "lab", "red", "not connected")]
    dashboard = Dashboard(store.aio, reports, lambda: lights)
    worker = ReportWorker(reports, url if request.param == "process" else None)
    app = create_app(
        authenticator=_Users(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=lambda *a: None,  # type: ignore[arg-type]
        routes=report_routes(worker, reports, dashboard),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            yield client, day
    finally:
        worker.close()
        store.close()


async def _login(client: httpx.AsyncClient, username: str) -> None:
    reply = await client.post("/login", json={"username": username, "password": "pw"})
    assert reply.status_code == 200


async def test_supervisor_reads_own_group_as_json_and_csv(
    api: tuple[httpx.AsyncClient, str],
) -> None:
    client, day = api
    await _login(client, "sue")
    query = {"dim": "queue", "by": "hour", "from": day, "to": day}
    reply = await client.get("/api/reports", params=query)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [(t["key"], t["offered"], t["answered"]) for t in body["totals"]] == [("sales", 2, 1)]
    csv_reply = await client.get("/api/reports.csv", params=query)
    assert csv_reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_reply.headers["content-disposition"]
    lines = csv_reply.text.splitlines()
    assert len(lines) == 1 + len(body["rows"]) + len(body["totals"])
    assert lines[-1].split(",")[:4] == ["total", "sales", "2", "1"]
    for params, status, error in (
        ({"dim": "queue", "keys": "support"}, 403, "report.scope"),
        ({"dim": "trunk"}, 403, "report.scope"),
        ({"dim": "queue", "keys": "nosuch"}, 404, "report.unknown"),
        ({"by": "day", "from": "2016-01-01", "to": "2026-01-01"}, 422, "report.range"),
        ({"tz": "Europe/Atlantis"}, 422, "report.time_zone"),
        ({"by": "fortnight"}, 422, "request.invalid"),
    ):
        reply = await client.get("/api/reports", params=params)
        assert (reply.status_code, reply.json()["error"]) == (status, error), params
    assert (await client.get("/api/admin/dashboard")).status_code == 403


async def test_agent_refused_admin_home_page(api: tuple[httpx.AsyncClient, str]) -> None:
    client, _day = api
    await _login(client, "alice")
    assert (await client.get("/api/reports")).status_code == 403
    await _login(client, "root")
    reply = await client.get("/api/admin/dashboard")
    assert reply.status_code == 200
    body = reply.json()
    assert body["counts"]["users"] == 2 and body["counts"]["groups"] == 2
    assert {(s["kind"], s["colour"]) for s in body["status"]} == {
        ("ami", "red"),
        ("store", "green"),
    }
    assert set(body["today"]) >= {"offered", "answered", "abandoned", "asa_s"}
