"""What a report asks for (validated), and how bucket rows become its figures (pure).

A request names a dimension (queue, group, agent, DID, trunk), a period (15 minutes, hour, day,
week from Monday, month), a range of local dates and a time zone. Ranges are bounded by period
(31 days by 15 minutes or hour, 400 days by day, 3 years by week or month), so no request reads
more than about 3 000 buckets per key and metric. Day buckets are the site's local days: a
report by day, week or month in another time zone reads 15-minute buckets instead, for at most
92 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cti.errors import NotFound, ValidationFailed
from cti.reports.buckets import MAX_SUFFIX

__all__ = [
    "DIMENSIONS",
    "PERIODS",
    "RangeTooLong",
    "ReportRequest",
    "UnknownKey",
    "UnknownTimeZone",
    "figures",
    "parse_request",
    "period_label",
    "periods",
]

DIMENSIONS = ("queue", "group", "agent", "did", "trunk")
PERIODS = ("15m", "hour", "day", "week", "month")
_MAX_DAYS = {"15m": 31, "hour": 31, "day": 400, "week": 3 * 366, "month": 3 * 366}
_OTHER_ZONE_MAX_DAYS = 92
_MAX_KEYS = 200


class RangeTooLong(ValidationFailed):
    error_id = "report.range"


class UnknownTimeZone(ValidationFailed):
    error_id = "report.time_zone"


class UnknownKey(NotFound):
    error_id = "report.unknown"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    dim: str
    by: str
    first: date  # local dates, both included
    last: date
    tz: ZoneInfo
    keys: tuple[str, ...] | None  # None: every key the asker may see
    span: str  # the buckets read: "q", "h" or "d"

    @property
    def start(self) -> int:
        return int(
            datetime(self.first.year, self.first.month, self.first.day, tzinfo=self.tz).timestamp()
        )

    @property
    def end(self) -> int:
        after = self.last + timedelta(days=1)
        return int(datetime(after.year, after.month, after.day, tzinfo=self.tz).timestamp())


def _choice(params: Mapping[str, str], name: str, allowed: Sequence[str], default: str) -> str:
    value = params.get(name, default)
    if value not in allowed:
        raise ValidationFailed(
            f"{name} is one of {', '.join(allowed)}", details={"field": name, "value": value[:40]}
        )
    return value


def _date(params: Mapping[str, str], name: str, default: date) -> date:
    text = params.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} is a date like 2026-12-01", details={"field": name, "value": text[:40]}
        ) from exc


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; UnknownTimeZone (422) if there is none of that name."""
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(
            "no such time zone (an IANA name such as Europe/London)",
            details={"field": "tz", "value": name[:64]},
        ) from exc


def parse_request(params: Mapping[str, str], site_tz: ZoneInfo, today: date) -> ReportRequest:
    """Validate a report's query parameters; raise ValidationFailed naming the bad one."""
    dim = _choice(params, "dim", DIMENSIONS, "queue")
    by = _choice(params, "by", PERIODS, "day")
    tz = zone(params["tz"]) if params.get("tz") else site_tz
    last = _date(params, "to", today)
    first = _date(params, "from", last)
    if first > last:
        raise ValidationFailed("from is after to", details={"field": "from"})
    days = (last - first).days + 1
    daily = by in ("day", "week", "month")
    span = "d" if daily and tz.key == site_tz.key else "q"
    if by == "hour" and _whole_hours(tz, first, last):
        span = "h"
    limit = _MAX_DAYS[by] if span == "d" or not daily else _OTHER_ZONE_MAX_DAYS
    if days > limit:
        raise RangeTooLong(
            f"a report by {by} covers at most {limit} days"
            + (
                "" if span == "d" or not daily else f" outside the site's time zone ({site_tz.key})"
            ),
            details={"field": "from", "days": days, "max_days": limit},
        )
    keys = tuple(k for k in params.get("keys", "").split(",") if k) or None
    if keys is not None and (len(keys) > _MAX_KEYS or any(len(k) > 128 for k in keys)):
        raise ValidationFailed(f"keys lists at most {_MAX_KEYS} names", details={"field": "keys"})
    return ReportRequest(dim, by, first, last, tz, keys, span)


def _whole_hours(tz: ZoneInfo, first: date, last: date) -> bool:
    """Whether ``tz``'s hours are UTC's from ``first`` to ``last`` (its offset a whole number
    of hours at every local midnight of the range), so UTC hour buckets serve."""
    day = first
    while day <= last + timedelta(days=1):
        offset = datetime(day.year, day.month, day.day, tzinfo=tz).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        day += timedelta(days=1)
    return True


def period_label(start: int, by: str, tz: ZoneInfo) -> str:
    """The local start of the period holding bucket ``start``, as ISO text."""
    local = datetime.fromtimestamp(start, tz)
    if by == "15m":
        return local.strftime("%Y-%m-%dT%H:%M")
    if by == "hour":
        return local.strftime("%Y-%m-%dT%H:00")
    day = local.date()
    if by == "week":
        day -= timedelta(days=day.weekday())
    elif by == "month":
        day = day.replace(day=1)
    return day.isoformat()


def periods(request: ReportRequest) -> list[tuple[int, int, str]]:
    """The report's periods as (first bucket start, end, label), in order.

    Built from the buckets the request reads (quarter hours, or the site's local days), each
    labelled by :func:`period_label` and merged while the label stays, so a period follows the
    time zone's own edges (DST days, half-hour zones) without SQL knowing the zone. At most
    31 x 96 quarters or 3 x 366 days are walked.
    """
    out: list[tuple[int, int, str]] = []
    for start, end in _buckets(request):
        label = period_label(start, request.by, request.tz)
        if out and out[-1][2] == label and out[-1][1] == start:
            out[-1] = (out[-1][0], end, label)
        else:
            out.append((start, end, label))
    return out


def _buckets(request: ReportRequest) -> Iterable[tuple[int, int]]:
    first, end = request.start, request.end
    if request.span in ("q", "h"):
        size = 900 if request.span == "q" else 3600
        edge = first - first % size
        while edge < end:
            yield edge, edge + size
            edge += size
        return
    day = request.first
    while day <= request.last:
        after = day + timedelta(days=1)
        lo = datetime(day.year, day.month, day.day, tzinfo=request.tz)
        hi = datetime(after.year, after.month, after.day, tzinfo=request.tz)
        yield int(lo.timestamp()), int(hi.timestamp())
        day = after


Sums = dict[str, float]


def _ratio(top: float, bottom: float, scale: float = 1.0) -> float | None:
    return round(top * scale / bottom, 1) if bottom > 0 else None


def figures(dim: str, raw: Sums) -> dict[str, float | None]:
    """A row's figures from its summed metrics (see :mod:`cti.reports.buckets` for names)."""
    g = raw.get
    if dim in ("queue", "group"):
        answered, offered, short = g("answered", 0), g("offered", 0), g("abandoned_short", 0)
        return {
            "offered": offered,
            "answered": answered,
            "abandoned": g("abandoned", 0) - short,
            "abandoned_short": short,
            "timed_out": g("exited", 0),
            "asa_s": _ratio(g("wait_answered", 0), answered),
            "service_level_pct": _ratio(g("sl_answered", 0), offered - short, 100),
            "aht_s": _ratio(g("talk", 0) + g("wrap", 0), answered),
            "talk_s": round(g("talk", 0), 1),
            "longest_wait_s": g("wait_max"),
            "transfers": g("transfers", 0),
            "ring_no_answer": g("rna", 0),
        }
    if dim == "agent":
        pauses = {k: v for k, v in raw.items() if k.startswith("pause:")}
        wrap = pauses.get("pause:wrap-up", 0.0)
        paused = sum(pauses.values())
        available = g("login", 0) - (paused - wrap)
        out: dict[str, float | None] = {
            "calls": g("calls", 0),
            "queue_calls": g("queue_calls", 0),
            "talk_s": round(g("talk", 0), 1),
            "outbound": g("outbound", 0),
            "transfers": g("transfers", 0),
            "ring_no_answer": g("rna", 0),
            "logged_in_s": round(g("login", 0), 1),
            "paused_s": round(paused, 1),
            "occupancy_pct": _ratio(g("talk", 0) + wrap, available, 100),
        }
        out.update({k: round(v, 1) for k, v in sorted(pauses.items())})
        return out
    return {
        "offered": g("offered", 0),
        "answered": g("answered", 0),
        "talk_s": round(g("talk", 0), 1),
        "outbound": g("outbound", 0),
    }


def roll_up(
    rows: Iterable[tuple[str, str, str, float]],
    key_of: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[tuple[str, str], Sums], dict[str, Sums]]:
    """Sum (period label, stored key, metric, value) rows into cells and per-key totals.

    ``key_of`` maps a stored key to the report keys it counts for (a queue to its groups).
    """
    cells: dict[tuple[str, str], Sums] = {}
    for label, stored, metric, value in rows:
        for key in key_of.get(stored, ()) if key_of is not None else (stored,):
            cell = cells.get((label, key))
            if cell is None:
                cells[(label, key)] = {metric: value}
            else:
                _add(cell, metric, value)
    # Totals from the cells, not the rows: a month of agents has 10 rows a cell.
    totals: dict[str, Sums] = {}
    for (_, key), cell in cells.items():
        total = totals.get(key)
        if total is None:
            totals[key] = dict(cell)
        else:
            for metric, value in cell.items():
                _add(total, metric, value)
    return cells, totals


def _add(sums: Sums, metric: str, value: float) -> None:
    old = sums.get(metric)
    if old is None:
        sums[metric] = value
    elif metric.endswith(MAX_SUFFIX):
        sums[metric] = max(old, value)
    else:
        sums[metric] = old + value


def unknown(keys: Sequence[str], known: Iterable[str]) -> None:
    """Raise UnknownKey for the first of ``keys`` not among ``known``."""
    have = set(known)
    for key in keys:
        if key not in have:
            raise UnknownKey(f"no such {key!r} in the reports", details={"key": key[:128]})
