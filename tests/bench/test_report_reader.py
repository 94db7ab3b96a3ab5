"""The report reader of ``cti bench pop --with-reports`` (sip_tests.bench.report_reader) against
the real daemon (``cti serve``) on a bench site whose store holds a year of report buckets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from sip_tests.bench.pop import _spawn, _wait_file
from sip_tests.bench.report_calls import Centre
from sip_tests.bench.report_load import read_figures, report_load
from sip_tests.bench.reports import Plan
from sip_tests.bench.site import SiteDaemon, seed_site
from sip_tests.daemon import free_tcp_port


def test_the_reader_gets_every_month_by_day_from_the_daemon(tmp_path: Path) -> None:
    site = seed_site(tmp_path / "site", agents=2, contacts=10)
    plan = Plan(Centre(queues=2, agents=3), calls=3000, q_days=1, agent_q_days=1, days=31)
    load, seeded = report_load(site, plan)  # 2 queues (one group), 3 agents
    assert seeded["rows"] > 0 and seeded["calls"] == 3000
    work = tmp_path / "run"
    work.mkdir()
    stop = work / "stop"
    daemon = SiteDaemon(site, free_tcp_port(), extra_env=load.daemon_env())  # no AMI: none needed
    daemon.start()
    try:
        cfg = load.reader_config(daemon.origin, work, 2, [stop])
        # The daemon's report worker process starts with its first report: start it now, so
        # the second below reads every case rather than waiting for that start.
        warm = httpx.get(
            f"{daemon.origin}/api/reports",
            params=cfg["cases"][0][1],
            cookies={"cti_session": cfg["cookie"]},
            timeout=60,
        )
        assert warm.status_code == 200, warm.text
        reader = _spawn("sip_tests.bench.report_reader", cfg, work / "reader.json")
        _wait_file(work / "reader-ready", 30, [reader])
        (work / "go").write_text("go")
        start = time.monotonic()
        time.sleep(1.0)
        end = time.monotonic()
        stop.write_text("stop")
        assert reader.wait(timeout=30) == 0, (work / "reader.log").read_text()
    finally:
        daemon.stop()

    records = [json.loads(line) for line in (work / "reads.jsonl").read_text().splitlines()]
    assert {status for _, _, _, status, _ in records} == {200}
    # 31 days of each key: 2 queues, their one group, 3 agents
    rows = {case: count for case, _, _, _, count in records}
    assert rows == {"queue month by day": 62, "group month by day": 31, "agent month by day": 93}
    figures = read_figures(work / "reads.jsonl", [{"start": start, "end": end}])
    assert figures["failed"] == 0
    assert figures["0"]["per_s"] > 0
    assert figures["0"]["p95_ms"] >= figures["0"]["p50_ms"] > 0
