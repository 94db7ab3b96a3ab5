"""Supervisors reading reports, in a process of their own: ``python -m sip_tests.bench.report_reader
CONFIG``.

CONFIG (JSON) names the daemon's ``base_url``, an admin's or supervisor's session ``cookie``,
the ``cases`` to read (``[name, query parameters]`` of ``GET /api/reports``, see
agent_ui/reports_api.py) and how many ``loops`` read at once. The process opens one HTTP/1.1
connection per loop (as one browser tab per supervisor would), writes ``ready_file``, and once
``go_file`` exists every loop asks for the cases in turn, each loop starting at a case of its
own, with no pause between requests: the most two supervisors clicking through reports can ask
of the daemon. When one of ``stop_files`` appears (or ``lifetime_s`` ran out) the loops finish
the request they are in and the process writes every request to ``out_file`` as JSON lines
``[case, t, seconds, status, rows]``: ``t`` the monotonic time it was sent (CLOCK_MONOTONIC,
shared with the other bench processes), ``status`` the HTTP status (0: no answer, the error on
stdout), ``rows`` how many rows the report's JSON held (-1 when it was not a report).
"""

# ruff: noqa: ASYNC110, ASYNC230, ASYNC240 (a benchmark process polls small control files)
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

__all__ = ["main"]

_GRACE_S = 5.0  # how long a request in flight at stop may still take
# case, sent at (monotonic), seconds, HTTP status (0: no answer), report rows (-1: no report)
_Record = tuple[str, float, float, int, int]


def _rows(response: httpx.Response) -> int:
    """How many rows the report in ``response`` holds; -1 when it is not a report."""
    if response.status_code != 200:
        print(f"{response.status_code}: {response.text[:300]}", flush=True)
        return -1
    try:
        body = response.json()
    except ValueError:
        return -1
    return len(body["rows"]) if isinstance(body, dict) and "rows" in body else -1


async def _read(
    client: httpx.AsyncClient,
    cases: Sequence[tuple[str, dict[str, str]]],
    first: int,
    stopped: asyncio.Event,
    records: list[_Record],
) -> None:
    """Ask for ``cases`` in turn from ``first`` on until ``stopped``."""
    clock = time.monotonic
    turn = first
    while not stopped.is_set():
        name, params = cases[turn % len(cases)]
        turn += 1
        sent = clock()
        try:
            response = await client.get("/api/reports", params=params)
        except httpx.HTTPError as exc:
            records.append((name, sent, clock() - sent, 0, -1))
            print(f"{name}: {exc!r}", flush=True)
            continue
        took = clock() - sent
        records.append((name, sent, took, response.status_code, _rows(response)))


async def run(cfg: dict[str, Any]) -> None:
    cases = [(str(name), dict(params)) for name, params in cfg["cases"]]
    loops = int(cfg.get("loops", 2))
    clients = [
        httpx.AsyncClient(
            base_url=cfg["base_url"],
            cookies={"cti_session": cfg["cookie"]},
            timeout=30.0,
            limits=httpx.Limits(max_connections=1),
        )
        for _ in range(loops)
    ]
    Path(cfg["ready_file"]).write_text(str(loops))
    deadline = time.monotonic() + float(cfg.get("lifetime_s", 600))
    go, stops = Path(cfg["go_file"]), [Path(p) for p in cfg["stop_files"]]

    def ended() -> bool:
        return time.monotonic() > deadline or any(p.exists() for p in stops)

    while not go.exists() and not ended():
        await asyncio.sleep(0.05)
    records: list[_Record] = []
    stopped = asyncio.Event()
    tasks = [
        asyncio.create_task(_read(client, cases, n * len(cases) // loops, stopped, records))
        for n, client in enumerate(clients)
    ]
    while not ended():
        await asyncio.sleep(0.1)
    stopped.set()
    done, late = await asyncio.wait(tasks, timeout=_GRACE_S)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
    await asyncio.gather(*(client.aclose() for client in clients))
    with Path(cfg["out_file"]).open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    for task in done:
        task.result()  # a loop that failed says why (its requests are written above)


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark report readers")
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    asyncio.run(run(json.loads(args.config.read_text())))


if __name__ == "__main__":
    main()
