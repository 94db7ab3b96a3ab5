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
    span: str  # the buckets read: "q" or "d"

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
    request: ReportRequest,
    rows: Iterable[tuple[int, str, str, float]],
    key_of: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[tuple[str, str], Sums], dict[str, Sums]]:
    """Sum bucket rows into (period, key) and per-key totals.

    ``key_of`` maps a stored key to the report keys it counts for (a queue to its groups).
    """
    cells: dict[tuple[str, str], Sums] = {}
    totals: dict[str, Sums] = {}
    labels: dict[int, str] = {}
    for start, stored, metric, value in rows:
        label = labels.get(start)
        if label is None:
            label = labels[start] = period_label(start, request.by, request.tz)
        for key in key_of.get(stored, ()) if key_of is not None else (stored,):
            for target in (cells.setdefault((label, key), {}), totals.setdefault(key, {})):
                if metric.endswith("_max"):
                    target[metric] = max(target.get(metric, value), value)
                else:
                    target[metric] = target.get(metric, 0.0) + value
    return cells, totals


def unknown(keys: Sequence[str], known: Iterable[str]) -> None:
    """Raise UnknownKey for the first of ``keys`` not among ``known``."""
    have = set(known)
    for key in keys:
        if key not in have:
            raise UnknownKey(f"no such {key!r} in the reports", details={"key": key[:128]})
