"""Time the callbacks of a daemon's event loop from outside its code (``cti bench pop --holds``).

:func:`holds_env` is the environment that makes a daemon load :mod:`.sitecustomize`;
:func:`read_holds` reads what it wrote at exit, and :func:`add_hold_rows` puts the kinds that
held the loop longest in a report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sip_tests.bench.results import Report

__all__ = ["add_hold_rows", "holds_env", "read_holds"]

_HERE = Path(__file__).parent
_TOP = 6  # kinds shown


def holds_env(out: Path) -> dict[str, str]:
    """The daemon's environment additions: this directory first on its path, and the
    directory ``out`` (made here) where each process writes ``<pid>.json`` at exit."""
    out.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(_HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "BENCH_HOLDS_DIR": str(out)}


def read_holds(out: Path, pid: int) -> dict[str, dict[str, Any]]:
    """What process ``pid`` wrote in ``out`` at exit: kind -> counts; empty if nothing."""
    try:
        rows: dict[str, dict[str, Any]] = json.loads((out / f"{pid}.json").read_text())
    except (OSError, ValueError):
        return {}
    return rows


def add_hold_rows(report: Report, label: str, holds: dict[str, dict[str, Any]]) -> None:
    """The kinds with most callbacks over 2 ms (then by total time), whole run."""
    report.details[f"{label} loop holds"] = holds or "not written: did the daemon exit cleanly?"
    ranked = sorted(holds.items(), key=lambda kv: (-kv[1]["over_2ms"], -kv[1]["total_s"]))
    for kind, row in ranked[:_TOP]:
        cpu = 100 * row.get("cpu_s", 0.0) / max(row["total_s"], 1e-9)
        longest = f"> 5 ms: {row['over_5ms']}, max {1000 * row['max_s']:.1f} ms, CPU {cpu:.0f} %"
        report.add(f"{label} loop held > 2 ms by {kind[:56]} ({longest})", row["over_2ms"], "times")
