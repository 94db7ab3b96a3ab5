"""Synthetic calls for ``cti bench reports``: each call's record and the facts the daemon counts.

Pure and repeatable: one seeded :class:`random.Random` makes every call of a day, spread over
the site's local day (85% between 08:00 and 18:00). An inbound call (85%) comes in on one of
the centre's DIDs through a trunk and waits in the DID's queue: answered (85%, after about
20 s), abandoned (10%) or left on the queue's 300 s timeout (5%). Now and then an agent of the
queue rang unanswered first (10%), or the agent who answered transferred the call to a
colleague (5% of answered calls); an answered call is followed by its agent's wrap-up. An
outbound call (15%) is placed by an agent through a trunk and answered 70% of the time. Every
agent logs in each day for about 8.5 hours, with a lunch pause and, one day in five, training.

Each call becomes the facts :class:`cti.reports.facts.FactTracker` decides from its AMI events:
a :class:`QueueVisit` (and :class:`RingNoAnswer`, :class:`Transfer` when they happen), the
wrap-up :class:`Span` and its :class:`CallDone`, made from the call's record by the tracker's
own :meth:`FactTracker.record` with the agents who answered its legs. :func:`crm_row` is the
record as the built-in CRM stores it, so the database holds the calls the buckets counted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_connectors.builtin.writes import call_row
from cti.core.records import CallRecord, Direction, Outcome
from cti.reports.facts import Fact, FactTracker, QueueVisit, RingNoAnswer, Span, Transfer

__all__ = ["CallMaker", "Centre", "Day", "agent_of", "calls_per_day", "crm_row"]

_OUTBOUND = 0.15
_ANSWERED, _ABANDONED = 0.85, 0.95  # inbound: below 0.85 answered, below 0.95 abandoned
_QUEUE_TIMEOUT_S = 300.0
_WORKING_HOURS = (time(8), time(18))
_IN_WORKING_HOURS = 0.85
_DAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.3)  # Monday to Sunday
_CALLERS = 1_000_000  # distinct caller numbers


@dataclass(frozen=True, slots=True)
class Centre:
    """The queues, agents, DIDs and trunks calls are spread over: agent ``a`` answers queue
    ``a % queues``, DID ``d`` rings queue ``d % queues``."""

    queues: int
    agents: int
    dids: int = 20
    trunks: int = 4
    server: str = "seeded"  # call ids "seeded:1", ...: none of a bench site's live calls

    def queue(self, index: int) -> str:
        return f"q{index:02}"

    def agent(self, index: int) -> str:
        return f"agent{index:03}"

    def did(self, index: int) -> str:
        return f"+44207946{index:04}"  # Ofcom's drama range

    def trunk(self, index: int) -> str:
        return f"trunk{index}"

    def members(self, queue: int) -> range:
        return range(queue, self.agents, self.queues)


def _number(rng: random.Random) -> str:
    """A caller's (or an outbound call's) number: none of the bulk CRM's contacts
    (``crm_connectors.builtin.bulk_rows``), so no other bench's lookup finds these calls."""
    return f"+44161{rng.randrange(_CALLERS):07d}"


def _endpoint(agent: str) -> str:
    return f"PJSIP/{agent}"


def agent_of(endpoint: str) -> str:
    """The agent on ``endpoint`` (the directory's owner of a phone, for the FactTracker)."""
    return endpoint.removeprefix("PJSIP/")


def calls_per_day(total: int, days: list[date]) -> list[int]:
    """Split ``total`` calls over ``days``, weekends quieter; the counts add up to ``total``."""
    weights = [_DAY_WEIGHTS[day.weekday()] for day in days]
    scale = total / sum(weights)
    counts = [int(weight * scale) for weight in weights]
    for index in range(total - sum(counts)):
        counts[index % len(counts)] += 1
    return counts


@dataclass(slots=True)
class Day:
    """One local day's calls: their records, and the facts they and the agents' shifts make."""

    records: list[CallRecord] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Route:
    """Where an inbound call came in and waited."""

    queue_index: int
    queue: str
    did: str
    trunk: str


@dataclass(frozen=True, slots=True)
class _Ending:
    """How an inbound call ended: outcome, times, and (agent, answered at) per answered leg."""

    outcome: Outcome
    ended: float
    answered_at: float | None = None
    talk: float = 0.0
    legs: tuple[tuple[str, float], ...] = ()


class CallMaker:
    """Make days of calls; the same ``seed`` and days make the same calls."""

    def __init__(self, centre: Centre, tz: ZoneInfo, *, seed: int = 18) -> None:
        self.centre = centre
        self.tz = tz
        self._rng = random.Random(seed)
        self._tracker = FactTracker(agent_of)
        self._serial = 0

    def day(self, day: date, calls: int) -> Day:
        """``calls`` calls of the local ``day``, and the agents' logins and pauses."""
        midnight = self._local(day, time(0))
        length = self._local(day + timedelta(days=1), time(0)) - midnight  # 23 to 25 hours
        opens, closes = (self._local(day, at) for at in _WORKING_HOURS)
        made = Day()
        rng = self._rng
        for _ in range(calls):
            if rng.random() < _IN_WORKING_HOURS:
                at = opens + rng.random() * (closes - opens)
            else:
                at = midnight + rng.random() * length
            self._serial += 1
            call_id = f"{self.centre.server}:{self._serial}"
            if rng.random() < _OUTBOUND:
                self._outbound(made, call_id, at)
            else:
                self._inbound(made, call_id, at)
        self._shifts(made, opens)
        return made

    def _local(self, day: date, at: time) -> float:
        return datetime.combine(day, at, tzinfo=self.tz).timestamp()

    def _inbound(self, made: Day, call_id: str, at: float) -> None:
        rng, c = self._rng, self.centre
        did = rng.randrange(c.dids)
        q = did % c.queues
        route = _Route(q, c.queue(q), c.did(did), c.trunk(rng.randrange(c.trunks)))
        joined = at + rng.uniform(2.0, 12.0)  # the greeting before the queue
        rung: list[str] = []
        if rng.random() < 0.10:
            missed_by = c.agent(rng.choice(c.members(q)))
            made.facts.append(RingNoAnswer(route.queue, missed_by, joined + rng.uniform(1, 15)))
            rung.append(_endpoint(missed_by))
        ending = self._queued(made, route, joined)
        rung += [_endpoint(agent) for agent, _ in ending.legs[:1]]
        record = CallRecord(
            call_id=call_id,
            server=c.server,
            direction=Direction.INBOUND,
            outcome=ending.outcome,
            started_at=_utc(at),
            ended_at=_utc(ending.ended),
            answered_at=None if ending.answered_at is None else _utc(ending.answered_at),
            caller_number=_number(rng),
            called_number=route.did,
            did=route.did,
            trunk=route.trunk,
            queue=route.queue,
            wait_seconds=round((ending.answered_at or ending.ended) - joined, 3),
            talk_seconds=round(ending.talk, 3),
            agents_rung=tuple(rung),
            answered_by=_endpoint(ending.legs[0][0]) if ending.legs else None,
        )
        made.records.append(record)
        made.facts += self._tracker.record(record, list(ending.legs))

    def _queued(self, made: Day, route: _Route, joined: float) -> _Ending:
        """Decide the caller's stay in the queue; add its visit (and what followed) to ``made``."""
        rng = self._rng
        position = 1 + int(rng.expovariate(1.0))
        roll = rng.random()
        if roll < _ANSWERED:
            return self._answered(made, route, joined, position)
        if roll < _ABANDONED:
            wait, outcome, kind = rng.expovariate(1 / 40), Outcome.ABANDONED, "abandoned"
        else:
            wait, outcome, kind = _QUEUE_TIMEOUT_S, Outcome.MISSED, "exited"
        visit = QueueVisit(
            route.queue, joined, position, kind, wait, None, 0.0, route.did, route.trunk
        )
        made.facts.append(visit)
        return _Ending(outcome, joined + wait)

    def _answered(self, made: Day, route: _Route, joined: float, position: int) -> _Ending:
        rng, c = self._rng, self.centre
        wait = min(rng.expovariate(1 / 20), _QUEUE_TIMEOUT_S - 1)
        agent = c.agent(rng.choice(c.members(route.queue_index)))
        answered_at, talk = joined + wait, 20.0 + min(rng.expovariate(1 / 160), 3600.0)
        ended = leg_end = answered_at + talk
        legs = [(agent, answered_at)]
        if rng.random() < 0.05:  # transferred to a colleague part way
            leg_end = answered_at + talk * rng.uniform(0.2, 0.8)
            made.facts.append(Transfer(agent, route.queue, leg_end))
            legs.append((c.agent(rng.randrange(c.agents)), leg_end))
        wrapped = leg_end + rng.uniform(5.0, 60.0)
        made.facts += (
            QueueVisit(
                route.queue, joined, position, "answered", wait, agent, talk, route.did, route.trunk
            ),
            Span("pause", agent, leg_end, wrapped, "wrap-up", route.queue),
        )
        return _Ending(Outcome.ANSWERED, ended, answered_at, talk, tuple(legs))

    def _outbound(self, made: Day, call_id: str, at: float) -> None:
        rng, c = self._rng, self.centre
        agent = rng.randrange(c.agents)
        ring = rng.uniform(3.0, 30.0)
        answered = rng.random() < 0.7
        talk = 10.0 + min(rng.expovariate(1 / 120), 3600.0) if answered else 0.0
        record = CallRecord(
            call_id=call_id,
            server=c.server,
            direction=Direction.OUTBOUND,
            outcome=Outcome.ANSWERED if answered else Outcome.MISSED,
            started_at=_utc(at),
            ended_at=_utc(at + ring + talk),
            answered_at=_utc(at + ring) if answered else None,
            caller_number=str(1000 + agent),  # the agent's extension
            called_number=_number(rng),
            trunk=c.trunk(rng.randrange(c.trunks)),
            talk_seconds=round(talk, 3),
            answered_by=_endpoint(c.agent(agent)) if answered else None,  # as build_record
        )
        made.records.append(record)
        made.facts += self._tracker.record(record)

    def _shifts(self, made: Day, opens: float) -> None:
        rng = self._rng
        for index in range(self.centre.agents):
            agent = self.centre.agent(index)
            login = opens + rng.uniform(-1800.0, 1800.0)
            lunch = login + 4 * 3600 + rng.uniform(0.0, 3600.0)
            made.facts += (
                Span("login", agent, login, login + 8.5 * 3600 + rng.uniform(0.0, 1800.0)),
                Span("pause", agent, lunch, lunch + rng.uniform(1800.0, 3600.0), "lunch"),
            )
            if rng.random() < 0.2:
                training = login + rng.uniform(3600.0, 7200.0)
                end = training + rng.uniform(1800.0, 3600.0)
                made.facts.append(Span("pause", agent, training, end, "training"))


def crm_row(record: CallRecord) -> dict[str, object]:
    """``record`` as a row of the built-in CRM's ``crm_calls``, as its ``log_call`` writes it
    (without the matches: no contact is matched), logged as the call ended."""
    return call_row(record, "GB", record.ended_at)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
