"""Figures of one benchmark run: percentiles, a printed table, and a JSON file in bench-results/."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cti.config import repo_root

__all__ = ["Figure", "Report", "percentile", "summary_ms"]


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the ``pct`` percentile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Return count, p50, p99 and max of durations in seconds, as milliseconds."""
    return {
        "n": float(len(seconds)),
        "p50_ms": percentile(seconds, 50) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": (max(seconds) if seconds else math.nan) * 1000,
    }


@dataclass(slots=True)
class Figure:
    """One measured figure beside its floor and target; ``ok`` is None when there is no target."""

    name: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.floor is None or self.floor == 0 or math.isnan(self.floor):
            return None
        return self.value / self.floor


@dataclass(slots=True)
class Report:
    """Everything one ``cti bench`` command measured; printed and written as one JSON file."""

    bench: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        floor: float | None = None,
        target: str = "",
        ok: bool | None = None,
    ) -> Figure:
        figure = Figure(name, value, unit, floor, target, ok)
        self.figures.append(figure)
        return figure

    def table(self) -> str:
        """Return the figures as an aligned text table."""
        rows = [("figure", "value", "floor", "ratio", "target", "met")]
        for f in self.figures:
            ratio = f.ratio
            rows.append(
                (
                    f.name,
                    f"{_num(f.value)} {f.unit}",
                    "" if f.floor is None else f"{_num(f.floor)} {f.unit}",
                    "" if ratio is None else f"{ratio:.2f}x",
                    f.target,
                    {None: "", True: "yes", False: "NO"}[f.ok],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )

    def save(self, directory: Path | None = None) -> Path:
        """Write the report as JSON under ``bench-results/`` (gitignored); return the path."""
        out = directory or repo_root() / "bench-results"
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.started_at))
        path = out / f"{self.bench}{'-quick' if self.quick else ''}-{stamp}.json"
        body = {
            "bench": self.bench,
            "quick": self.quick,
            "started_at": self.started_at,
            "seconds": round(time.time() - self.started_at, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_avg": os.getloadavg(),
            },
            "figures": [
                {
                    "name": f.name,
                    "value": f.value,
                    "unit": f.unit,
                    "floor": f.floor,
                    "ratio": f.ratio,
                    "target": f.target,
                    "ok": f.ok,
                }
                for f in self.figures
            ],
            "details": self.details,
        }
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")
        return path


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
