"""Count facts into interval buckets (pure): what the store adds to, so reports never scan calls.

Every fact adds to three buckets of each dimension it concerns: the 15-minute bucket (span
``q``, aligned on UTC quarter hours, which every time zone's quarter hours are too), the hour
bucket (span ``h``, UTC hours: a rollup of the quarters, a quarter of the rows, kept so that a
week by hour reads 168 buckets a key and metric, not 672) and the day bucket (span ``d``: the
site's local day, keyed by the instant of its local midnight). Reports by 15 minutes read ``q``
buckets; by hour ``h`` (``q`` in a zone whose hours are not UTC's, such as India's); by day,
week or month ``d`` buckets, about a hundredth as many rows as ``q``. A stretch of time (logged
in, paused) is cut at bucket edges.

Dimensions and their metrics (sums unless named ``*_max``):

- ``queue``: offered, answered, abandoned, abandoned_short (under ``short_abandon_s``; also in
  abandoned), exited (timeout), wait_answered (seconds, for the average speed of answer),
  sl_answered (answered within the queue's service-level seconds), wait_max, talk, wrap
  (wrap-up after the queue's calls), transfers, rna (rang an agent, no answer);
- ``agent``: calls (answered calls, any direction), queue_calls, talk, outbound, transfers,
  rna, login (seconds), ``pause:<reason>`` (seconds);
- ``did`` and ``trunk``: offered (inbound calls), answered, talk, outbound (trunk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cti.reports.facts import CallDone, Fact, QueueVisit, RingNoAnswer, Span, Transfer

__all__ = ["HOUR", "QUARTER", "BucketKey", "Counting", "Deltas", "day_start", "quarter_start"]

QUARTER = 900
HOUR = 3600
MAX_SUFFIX = "_max"
_KEY_MAX = 128
_REASON_MAX = 40

BucketKey = tuple[str, int, str, str, str]  # span, start (epoch s), dimension, key, metric


def quarter_start(at: float) -> int:
    return int(at // QUARTER) * QUARTER


def day_start(at: float, tz: ZoneInfo) -> int:
    """The epoch second of the local midnight that starts ``at``'s day in ``tz``."""
    local = datetime.fromtimestamp(at, tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
    return int(midnight.timestamp())


def _next_day(start: int, tz: ZoneInfo) -> int:
    local = datetime.fromtimestamp(start, tz)
    following = datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=1)
    return int(datetime(following.year, following.month, following.day, tzinfo=tz).timestamp())


@dataclass(frozen=True, slots=True)
class Counting:
    """The thresholds applied when facts are counted (changes apply to facts counted after)."""

    tz: ZoneInfo
    short_abandon_s: float = 5.0
    service_level_s: float = 20.0
    queue_service_level_s: Mapping[str, float] = field(default_factory=dict)

    def service_level_of(self, queue: str) -> float:
        return self.queue_service_level_s.get(queue, self.service_level_s)


class Deltas:
    """Additions to buckets, merged: ``sums`` add up, ``maxes`` keep the largest."""

    __slots__ = ("_day", "counting", "maxes", "sums")

    def __init__(self, counting: Counting) -> None:
        self.counting = counting
        self.sums: dict[BucketKey, float] = {}
        self.maxes: dict[BucketKey, float] = {}
        self._day = (0, 0)  # the local day facts last fell in: [start, next day's start)

    def __len__(self) -> int:
        return len(self.sums) + len(self.maxes)

    def merge(self, other: Deltas) -> None:
        for key, value in other.sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        for key, value in other.maxes.items():
            if value > self.maxes.get(key, float("-inf")):
                self.maxes[key] = value

    def add(self, at: float, dim: str, key: str, metric: str, v: float) -> None:
        """Add ``v`` to ``metric`` of ``dim``/``key`` in the quarter, hour and day of ``at``."""
        key = key[:_KEY_MAX]
        quarter = quarter_start(at)
        buckets = (
            ("q", quarter, dim, key, metric),
            ("h", quarter - quarter % HOUR, dim, key, metric),
            ("d", self._day_of(at), dim, key, metric),
        )
        if metric.endswith(MAX_SUFFIX):
            maxes = self.maxes
            for bucket in buckets:
                if v > maxes.get(bucket, float("-inf")):
                    maxes[bucket] = v
        else:
            sums = self.sums
            for bucket in buckets:
                sums[bucket] = sums.get(bucket, 0.0) + v

    def _day_of(self, at: float) -> int:
        """:func:`day_start` of ``at``, remembered for the rest of that day: the zone's rules
        are asked once a day, not for every fact (they were a third of counting's time)."""
        start, end = self._day
        if not start <= at < end:
            start = day_start(at, self.counting.tz)
            self._day = (start, _next_day(start, self.counting.tz))
        return start

    def add_span(self, start: float, end: float, dim: str, key: str, metric: str) -> None:
        """Add the seconds from ``start`` to ``end``, cut at quarter and day edges."""
        key = key[:_KEY_MAX]
        for span, edges in (
            ("q", _quarters(start, end, QUARTER)),
            ("h", _quarters(start, end, HOUR)),
            ("d", _days(start, end, self.counting.tz)),
        ):
            for bucket_start, seconds in edges:
                bucket = (span, bucket_start, dim, key, metric)
                self.sums[bucket] = self.sums.get(bucket, 0.0) + seconds

    def count(self, facts: Iterable[Fact]) -> None:
        """Add every fact of ``facts``."""
        for fact in facts:
            match fact:
                case QueueVisit():
                    self._visit(fact)
                case RingNoAnswer():
                    self.add(fact.at, "queue", fact.queue, "rna", 1)
                    self.add(fact.at, "agent", fact.agent, "rna", 1)
                case Transfer():
                    self.add(fact.at, "agent", fact.agent, "transfers", 1)
                    if fact.queue:
                        self.add(fact.at, "queue", fact.queue, "transfers", 1)
                case Span():
                    self._span(fact)
                case CallDone():
                    self._call(fact)

    def _visit(self, visit: QueueVisit) -> None:
        c = self.counting
        at, queue = visit.joined_at, visit.queue
        self.add(at, "queue", queue, "offered", 1)
        if visit.outcome == "answered":
            self.add(at, "queue", queue, "answered", 1)
            self.add(at, "queue", queue, "wait_answered", visit.wait_s)
            if visit.wait_s <= c.service_level_of(queue):
                self.add(at, "queue", queue, "sl_answered", 1)
            self.add(at, "queue", queue, "talk", visit.talk_s)
            if visit.agent:
                self.add(at, "agent", visit.agent, "queue_calls", 1)
        elif visit.outcome == "abandoned":
            self.add(at, "queue", queue, "abandoned", 1)
            if visit.wait_s < c.short_abandon_s:
                self.add(at, "queue", queue, "abandoned_short", 1)
        else:
            self.add(at, "queue", queue, "exited", 1)
        self.add(at, "queue", queue, "wait_max", visit.wait_s)

    def _span(self, span: Span) -> None:
        if span.end <= span.start:
            return
        if span.kind == "login":
            self.add_span(span.start, span.end, "agent", span.agent, "login")
            return
        reason = (span.reason or "paused")[:_REASON_MAX]
        self.add_span(span.start, span.end, "agent", span.agent, f"pause:{reason}")
        if reason == "wrap-up" and span.queue:
            self.add_span(span.start, span.end, "queue", span.queue, "wrap")

    def _call(self, call: CallDone) -> None:
        at = call.started_at
        if call.handled:  # every agent who answered a leg of it
            for agent, talk in call.handled:
                self.add(at, "agent", agent, "calls", 1)
                self.add(at, "agent", agent, "talk", talk)
        elif call.agent and call.answered:  # an outbound call: the agent placed it
            self.add(at, "agent", call.agent, "calls", 1)
            self.add(at, "agent", call.agent, "talk", call.talk_s)
        if call.outbound:
            if call.agent:
                self.add(at, "agent", call.agent, "outbound", 1)
            if call.trunk:
                self.add(at, "trunk", call.trunk, "outbound", 1)
            return
        for dim, key in (("did", call.did), ("trunk", call.trunk)):
            if key:
                self.add(at, dim, key, "offered", 1)
                if call.answered:
                    self.add(at, dim, key, "answered", 1)
                    self.add(at, dim, key, "talk", call.talk_s)


def _quarters(start: float, end: float, size: int) -> Iterable[tuple[int, float]]:
    """The ``size``-second UTC buckets (quarters or hours) from ``start`` to ``end``, with the
    seconds of the stretch in each."""
    edge = int(start // size) * size
    while edge < end:
        nxt = edge + size
        yield edge, min(end, nxt) - max(start, edge)
        edge = nxt


def _days(start: float, end: float, tz: ZoneInfo) -> Iterable[tuple[int, float]]:
    edge = day_start(start, tz)
    while edge < end:
        nxt = _next_day(edge, tz)
        yield edge, min(end, nxt) - max(start, edge)
        edge = nxt
