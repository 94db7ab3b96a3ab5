"""Turn call updates into pops for exactly the agents whose phones ring, and records on hangup.

One CRM lookup per call, started the moment the call exists (``CallStarted``) so that it is
usually done before any phone rings; a pop never waits for the CRM longer than the lookup
timeout: past it, the pop goes out with the caller id and a ``pop_update`` follows when the data
arrives. ``handle`` runs on the AMI read path: it never blocks, and anything that must wait
(a slow lookup, writing the record) runs in a task this service owns.

A pop's card is rendered once per call and template, not once per agent: the card is a pure
function of the template and the context names it uses, so an agent whose context agrees on
those names gets the card already made (the other phones of a ring-all).

A card renders on the loop within a slice of a few ms; one that runs past it is rendered in a
worker process (:mod:`cti.pop.offload`) and its pop goes out when the worker answers, so one
group's slow template never holds up another group's pops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from crm_connectors.base import CrmConnector, LookupOptions, LookupResult
from cti.core.records import CallRecord, Direction
from cti.core.updates import (
    AgentRang,
    AgentRingEnded,
    CallAnswered,
    CallEnded,
    CallHoldChanged,
    CallStarted,
    CallTransferred,
    CallUpdate,
    CallView,
)
from cti.errors import CrmError, TemplateError
from cti.numbers import RegionSource, region_source, to_e164
from cti.pop.context import LookupState, pop_context
from cti.pop.directory import Directory, GroupConfig
from cti.pop.interactions import InteractionMatcher, ReservationMatch
from cti.pop.offload import CardRenderer
from cti.pop.render import DEFAULT_TEMPLATE, PopRenderer

__all__ = ["AgentNotifier", "CallRecords", "PopService"]

log = logging.getLogger(__name__)


class AgentNotifier(Protocol):
    """Where pops go: the agent hub, through the one place that builds browser messages."""

    def pop(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None: ...
    def pop_update(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None: ...
    def pop_dismissed(self, agent: str, call_id: str, reason: str) -> None: ...
    def call_state(
        self, agent: str, call_id: str, state: str, detail: dict[str, object]
    ) -> None: ...


class CallRecords(Protocol):
    """The store side: notes typed during the call, and the record written when it ends."""

    async def notes_for(self, call_id: str) -> str: ...
    async def end_call(self, record: CallRecord, wrapup_s: int | None = None) -> None: ...


@dataclass(slots=True)
class _Pop:
    agent: str
    endpoint: str
    group: GroupConfig
    sent: bool = False
    active: bool = True
    last: tuple[str, dict[str, object]] | None = None  # html, data as last sent
    rendering: bool = False  # a worker is rendering its card
    again: bool = False  # asked for while rendering: render (and send) once more after


@dataclass(slots=True)
class _Session:
    view: CallView
    number: str
    deadline: float
    lookup: LookupResult | None = None
    state: LookupState = "pending"
    task: asyncio.Task[None] | None = None
    pops: dict[str, _Pop] = field(default_factory=dict)
    waiting: list[_Pop] = field(default_factory=list)  # rung, held back for the lookup
    timer: asyncio.TimerHandle | None = None  # sends ``waiting`` at the deadline
    cards: dict[str, tuple[dict[str, object], str]] = field(default_factory=dict)
    reservation: ReservationMatch | None = None  # the access-number interaction, if a pool DID
    reservation_checked: bool = False

    def stop_waiting(self) -> list[_Pop]:
        """Cancel the deadline; return the pops that were waiting for the lookup."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiting, self.waiting = self.waiting, []
        return waiting


class PopService:
    """Pops, pop updates and dismissals per agent; call records on hangup."""

    def __init__(
        self,
        crm: CrmConnector,
        directory: Callable[[], Directory],
        notifier: AgentNotifier,
        records: CallRecords,
        *,
        default_region: str | RegionSource,
        lookup_timeout_s: float,
        lookup_options: LookupOptions | None = None,
        renderer: PopRenderer | None = None,
        cards: CardRenderer | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_template_failure: Callable[[str, str, str], None] | None = None,
        interactions: InteractionMatcher | None = None,
        lookup_took: Callable[[float], None] | None = None,
    ) -> None:
        """``lookup_took(seconds)``: told how long each caller lookup took (metrics)."""
        self._crm = crm
        self._lookup_took = lookup_took
        self._directory = directory
        self._out = notifier
        self._records = records
        self._regions = region_source(default_region)  # read per call: admins may change it
        self._timeout = lookup_timeout_s
        self._options = lookup_options or LookupOptions()
        self._cards = cards or CardRenderer(renderer)
        self._renderer = self._cards.renderer
        self._clock = clock
        self._calls: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.pops_sent = 0
        self._shown: OrderedDict[tuple[str, str], None] = OrderedDict()  # (agent, call id)
        self._recording_links: Callable[[str], tuple[str, ...]] = lambda call_id: ()
        self._on_screen: set[tuple[str, str]] = set()  # (agent, call id) during take_back
        # (group, error), newest last; each also goes to on_template_failure(group, error, call)
        self.template_failures: deque[tuple[str, str]] = deque(maxlen=200)
        self._on_template_failure = on_template_failure
        self._interactions = interactions
        self._handlers: dict[type, Callable[[Any], None]] = {
            CallStarted: self._started,
            AgentRang: self._rang,
            AgentRingEnded: self._ring_ended,
            CallAnswered: self._answered,
            CallTransferred: self._transferred,
            CallHoldChanged: self._hold,
            CallEnded: self._ended,
        }

    # ---------------------------------------------------------------------------- public
    def handle(self, update: CallUpdate) -> None:
        session = self._calls.get(update.call.call_id)
        if session is not None:
            session.view = update.call
        handler = self._handlers.get(type(update))
        if handler is not None:
            handler(update)

    def recordings_from(self, links: Callable[[str], tuple[str, ...]]) -> None:
        """Take the links to a call's recordings (``RecordingService.links_of``) into its
        record as it ends (the root wires it; the recording service is built after this one)."""
        self._recording_links = links

    def forget(self, call_ids: Iterable[str]) -> None:
        """Drop these calls' pops without a word to anyone: another node owns their server
        now and tells the agents what happens next (a lost AMI lease, issue 21)."""
        for call_id in call_ids:
            session = self._calls.pop(call_id, None)
            if session is None:
                continue
            session.stop_waiting()
            if session.task is not None and not session.task.done():
                session.task.cancel()

    def handle_all(self, updates: list[CallUpdate]) -> None:
        for update in updates:
            self.handle(update)

    async def take_back(
        self, updates: list[CallUpdate], on_screen: Callable[[str], Awaitable[set[str]]]
    ) -> None:
        """Show restored calls again (their updates from ``LiveCallJournal.restore``).

        A tab that already shows a call's pop (another node sent it before this one took the
        server over, issue 21) gets a ``pop_update`` once the lookup answers, never a second
        ``pop``; ``on_screen(agent)`` names the calls whose pop the agent's tabs show.
        """
        agents = {
            agent
            for update in updates
            for endpoint in _endpoints(update)
            for agent in self._directory().owners(endpoint)
        }
        for agent in sorted(agents):
            self._on_screen.update((agent, call_id) for call_id in await on_screen(agent))
        try:
            self.handle_all(updates)
        finally:
            self._on_screen.clear()

    def active_pops(self, agent: str) -> list[tuple[str, str, dict[str, object]]]:
        """(call id, html, data) of every pop ``agent`` has open now, for a reconnect snapshot."""
        out = []
        for call_id, session in self._calls.items():
            pop = session.pops.get(agent)
            if pop and pop.active and pop.last:
                out.append((call_id, *pop.last))
        return out

    def compile_templates(self, directory: Directory) -> list[tuple[str, str]]:
        """Compile the default and every group's template now, not on the first pop.

        Compiling a template takes ~100 ms, far longer than a pop may wait; the render workers
        start here too (:meth:`CardRenderer.start`). Returns the groups
        whose template does not compile (their pops use the default), with the error.
        """
        self._renderer.compile(DEFAULT_TEMPLATE)
        self._cards.start()
        broken = []
        for group in directory.groups.values():
            try:
                self._renderer.compile(group.template)
            except TemplateError as exc:
                broken.append((group.name, exc.message))
        return broken

    def look_up_again(self, call_id: str) -> bool:
        """Repeat the CRM lookup of a live call (an agent linked its number or created a contact).

        The call's open pops are updated when the answer arrives. False if the call is over.
        """
        session = self._calls.get(call_id)
        if session is None:
            return False
        if session.task is not None and not session.task.done():
            return True  # a lookup is running; its answer updates the pops
        session.task, session.state = None, "pending"
        self._start_lookup(session, session.number)
        return True

    def was_shown(self, agent: str, call_id: str) -> bool:
        """Whether ``agent`` got a pop of ``call_id`` (live, or among the last ~10k calls)."""
        return (agent, call_id) in self._shown

    async def close(self) -> None:
        """Cancel lookups; wait for records being written (they must not be lost)."""
        for session in self._calls.values():
            session.stop_waiting()
            if session.task:
                session.task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._cards.close()

    # ---------------------------------------------------------------------------- tasks
    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    # ---------------------------------------------------------------------------- lookups
    def _session(self, view: CallView) -> _Session:
        session = self._calls.get(view.call_id)
        if session is None:
            raw = view.caller.number if view.direction is Direction.INBOUND else view.called_number
            session = _Session(view, raw, self._clock() + self._timeout)
            self._calls[view.call_id] = session
        return session

    def _start_lookup(self, session: _Session, raw_number: str) -> None:
        if session.task is not None or session.state != "pending":
            return
        session.number = to_e164(raw_number, self._regions.default_region()) or raw_number
        session.deadline = self._clock() + self._timeout
        session.task = self._spawn(self._lookup(session), f"lookup {session.view.call_id}")

    async def _lookup(self, session: _Session) -> None:
        asked = time.monotonic()
        try:
            async with asyncio.timeout(max(self._timeout, 5.0)):  # no extra task, unlike wait_for
                result = await self._crm.lookup(session.number, self._options)
        except (CrmError, TimeoutError) as exc:
            log.warning("CRM lookup of %s failed: %s", session.number, exc)
            session.state = "failed"
        else:
            session.lookup, session.state = result, "done"
        finally:
            if self._lookup_took is not None:
                self._lookup_took(time.monotonic() - asked)
        earlier = [pop for pop in session.pops.values() if pop.sent and pop.active]
        waiting = session.stop_waiting()
        for pop in waiting:  # rung while the lookup ran: their pops go out now, with the data
            if pop.active and not pop.sent:
                self._send(session, pop, update=False)
        for pop in earlier:  # pops that went out before the data: update them
            self._send(session, pop, update=True)

    # ---------------------------------------------------------------------------- updates
    def _started(self, update: CallStarted) -> None:
        session = self._session(update.call)
        if update.call.direction is not Direction.OUTBOUND:
            self._start_lookup(session, update.call.caller.number)

    def _rang(self, update: AgentRang) -> None:
        view = update.call
        if view.direction is Direction.OUTBOUND:
            return  # the agent's own phone ringing for click-to-dial: no pop
        session = self._session(view)
        # A call that began as an agent's own (a consultation before an attended transfer)
        # had no lookup at its start: look its caller up now rather than wait out the timeout.
        self._start_lookup(session, view.caller.number)
        for agent in self._directory().owners(update.endpoint):
            pop = session.pops.get(agent) or self._new_pop(session, agent, update.endpoint)
            pop.active = True
            if pop.group.trigger == "ringing":
                self._deliver(session, pop)

    def _new_pop(
        self, session: _Session, agent: str, endpoint: str, group: GroupConfig | None = None
    ) -> _Pop:
        """The pop of ``agent`` for this call; counted as sent when the agent's tab already
        shows it (:meth:`take_back`), so that what follows updates it."""
        view = session.view
        pop = _Pop(agent, endpoint, group or self._group(view, agent))
        if (agent, view.call_id) in self._on_screen:
            pop.sent = True
            self._shown[(agent, view.call_id)] = None
        session.pops[agent] = pop
        return pop

    def _deliver(self, session: _Session, pop: _Pop) -> None:
        """Send the pop now if the CRM answered (or gave up), else when it does or time is up.

        A held-back pop waits in ``session.waiting``: the lookup's answer sends it straight
        from the task that got it, and one timer per call sends it at the deadline.
        """
        if pop.sent:
            if pop.last is None and session.state == "pending":
                return  # on screen from another node: the lookup's answer updates it
            self._send(session, pop, update=True)
            return
        remaining = session.deadline - self._clock()
        if session.state != "pending" or remaining <= 0:
            self._send(session, pop, update=False)
            return
        if pop not in session.waiting:
            session.waiting.append(pop)
        if session.timer is None:
            loop = asyncio.get_running_loop()
            session.timer = loop.call_later(remaining, self._deadline, session)

    def _deadline(self, session: _Session) -> None:
        session.timer = None
        for pop in session.stop_waiting():
            if pop.active and not pop.sent:
                self._send(session, pop, update=False)

    def _send(self, session: _Session, pop: _Pop, *, update: bool) -> None:
        if pop.rendering:  # a worker is on it: send the newest card once it is done
            pop.again = True
            return
        context, data = self._context(session, pop)
        html = self._card_now(session, pop, context)
        if html is None:
            pop.rendering = True
            self._spawn(self._send_rendered(session, pop, update), f"render {pop.agent}")
            return
        self._emit(session, pop, html, data, update=update)

    async def _send_rendered(self, session: _Session, pop: _Pop, update: bool) -> None:
        """Send the pop whose card a worker renders; again if it was asked for meanwhile."""
        try:
            while True:
                pop.again = False
                context, data = self._context(session, pop)
                html = await self._card_later(session, pop, context)
                if self._calls.get(session.view.call_id) is not session:
                    return  # the call ended while the card was made
                if pop.active:  # not: it stopped ringing (or was dismissed) meanwhile
                    self._emit(session, pop, html, data, update=update or pop.sent)
                if not pop.again:
                    return
                update = True
        finally:
            pop.rendering = False

    def _emit(
        self, session: _Session, pop: _Pop, html: str, data: dict[str, object], *, update: bool
    ) -> None:
        pop.last = (html, data)
        if update:
            self._out.pop_update(pop.agent, session.view.call_id, html, data)
        else:
            pop.sent = True
            self.pops_sent += 1
            self._shown[(pop.agent, session.view.call_id)] = None
            if len(self._shown) > 10_000:
                self._shown.popitem(last=False)
            self._out.pop(pop.agent, session.view.call_id, html, data)

    def _context(self, session: _Session, pop: _Pop) -> tuple[dict[str, object], dict[str, object]]:
        """The template's context for ``pop`` now, and the pop's data (context and more)."""
        context = pop_context(
            session.view,
            session.lookup,
            session.state,
            agent=pop.agent,
            group=pop.group.name,
            number=session.number,
            reservation=self._reservation(session),
        )
        data = {
            **context,
            "dispositions": list(pop.group.dispositions),
            "trigger": pop.group.trigger,
        }
        return context, data

    def _reservation(self, session: _Session) -> ReservationMatch | None:
        """The access-number interaction of the call, matched (once) when its DID is known."""
        view = session.view
        if session.reservation_checked or self._interactions is None or not view.did:
            return session.reservation
        session.reservation_checked = True
        if view.direction is Direction.INBOUND:
            session.reservation = self._interactions.match_call(
                view.did, session.number or view.caller.number, view.call_id
            )
        return session.reservation

    def _card_now(self, session: _Session, pop: _Pop, context: dict[str, object]) -> str | None:
        """The card for ``context``, made on the loop; None if a worker must make it.

        The call's last card of the template is reused if its context agrees on every name
        the template uses (the other agents of a ring-all). A template that fails gives the
        default card, and supervisors are told.
        """
        template = pop.group.template
        used = self._used(template, context)
        made = session.cards.get(template)
        if made is not None and made[0] == used:
            return made[1]
        try:
            html = self._cards.render_inline(template, context)
        except TemplateError as exc:
            return self._fallback(session, pop, context, exc)
        if html is not None:
            session.cards[template] = (used, html)
        return html

    async def _card_later(self, session: _Session, pop: _Pop, context: dict[str, object]) -> str:
        """The card for ``context``, made by a worker (the template overran its slice)."""
        template = pop.group.template
        try:
            html = await self._cards.render_in_worker(template, context)
        except TemplateError as exc:
            return self._fallback(session, pop, context, exc)
        session.cards[template] = (self._used(template, context), html)
        return html

    def _used(self, template: str, context: dict[str, object]) -> dict[str, object]:
        names = self._renderer.names(template)
        return context if names is None else {k: v for k, v in context.items() if k in names}

    def _fallback(
        self, session: _Session, pop: _Pop, context: dict[str, object], exc: TemplateError
    ) -> str:
        self.template_failures.append((pop.group.name, exc.message))
        if self._on_template_failure is not None:
            self._on_template_failure(pop.group.name, exc.message, session.view.call_id)
        log.warning("group %s: pop template failed (%s); default used", pop.group.name, exc)
        return self._renderer.render(DEFAULT_TEMPLATE, context)

    def _ring_ended(self, update: AgentRingEnded) -> None:
        session = self._calls.get(update.call.call_id)
        if session is None:
            return
        for agent in self._directory().owners(update.endpoint):
            pop = session.pops.get(agent)
            if pop is None or not pop.active or pop.endpoint != update.endpoint:
                continue
            pop.active = False
            if pop.sent:
                self._out.pop_dismissed(agent, update.call.call_id, str(update.reason))

    def _answered(self, update: CallAnswered) -> None:
        view = update.call
        session = self._session(view)
        if update.endpoint is None:  # the far end of an outbound call answered
            self._outbound_answered(session, view)
            return
        for agent in self._directory().owners(update.endpoint):
            pop = session.pops.get(agent) or self._new_pop(session, agent, update.endpoint)
            pop.active, pop.endpoint = True, update.endpoint
            if pop.sent:
                self._out.call_state(agent, view.call_id, "answered", {})
            else:  # the group pops on answer, or the pop was still waiting for the CRM
                self._deliver(session, pop)

    def _outbound_answered(self, session: _Session, view: CallView) -> None:
        if not view.agent:
            return
        self._start_lookup(session, view.called_number)
        for agent in self._directory().owners(view.agent):
            group = self._directory().group_for(did=None, queue=None, agent=agent)
            pop = session.pops.get(agent) or self._new_pop(session, agent, view.agent, group)
            self._deliver(session, pop)

    def _transferred(self, update: CallTransferred) -> None:
        view = update.call
        session = self._session(view)
        for agent in self._directory().owners(update.from_endpoint):
            pop = session.pops.get(agent)
            if pop is not None and pop.active:
                pop.active = False
                self._out.call_state(agent, view.call_id, "transferred", {"to": update.to_endpoint})
        targets = self._directory().owners(update.to_endpoint)
        self._spawn(self._hand_over_notes(session, targets), f"notes {view.call_id}")

    async def _hand_over_notes(self, session: _Session, agents: tuple[str, ...]) -> None:
        notes = await self._records.notes_for(session.view.call_id)
        for agent in agents:
            pop = session.pops.get(agent)
            if pop is not None and pop.sent:
                context, data = self._context(session, pop)
                html = self._card_now(session, pop, context)
                if html is None:
                    html = await self._card_later(session, pop, context)
                pop.last = (html, {**data, "notes": notes})
                self._out.pop_update(agent, session.view.call_id, html, pop.last[1])

    def _hold(self, update: CallHoldChanged) -> None:
        session = self._calls.get(update.call.call_id)
        if session is None:
            return
        state = "held" if update.held else "resumed"
        for pop in session.pops.values():
            if pop.active and pop.sent:
                self._out.call_state(pop.agent, update.call.call_id, state, {})

    def _ended(self, update: CallEnded) -> None:
        session = self._calls.pop(update.call.call_id, None)
        if session is not None:
            session.stop_waiting()
            if session.task is not None and not session.task.done():
                session.task.cancel()
            for pop in session.pops.values():
                if pop.sent and pop.active:
                    self._out.call_state(pop.agent, update.call.call_id, "ended", {})
        if update.record is not None:
            record = self._agents_named(update.record, session)
            wrapup = 0
            if record.answered_by:  # the answering agent's group: its wrap-up delays delivery
                group = self._directory().group_for(
                    did=record.did,
                    queue=record.queue,
                    agent=record.answered_by,
                    server=record.server,
                    trunk=record.trunk,
                )
                wrapup = group.wrapup_after(record.queue)
            self._spawn(self._records.end_call(record, wrapup), f"record {record.call_id}")

    def _group(self, view: CallView, agent: str) -> GroupConfig:
        return self._directory().group_for(
            did=view.did, queue=view.queue, agent=agent, server=view.server, trunk=view.trunk
        )

    def _agents_named(self, record: CallRecord, session: _Session | None) -> CallRecord:
        """The record with endpoints replaced by agent usernames and the CRM match attached."""
        directory = self._directory()

        def name(endpoint: str) -> str:
            owners = directory.owners(endpoint)
            return owners[0] if owners else endpoint

        matches = session.lookup.crm_matches() if session and session.lookup else ()
        found = session.reservation if session else None
        flags = record.flags
        if found is not None:  # the CRM's record says which app request the call answered
            flags = (*flags, f"interaction:{found.interaction_id or 'none'}")
        return replace(
            record,
            agents_rung=tuple(name(e) for e in record.agents_rung),
            answered_by=name(record.answered_by) if record.answered_by else None,
            matches=tuple(matches),
            flags=flags,
            interaction=_interaction_note(found),
            recordings=self._recording_links(record.call_id),
        )


_NOTED = ("who", "intent", "order", "page")


def _interaction_note(found: ReservationMatch | None) -> tuple[tuple[str, str], ...]:
    """What the call record tells the CRMs of the interaction the call matched (none: ())."""
    if found is None or found.interaction_id is None:
        return ()
    said = [(key, str(found.interaction.get(key) or "")) for key in _NOTED]
    return (("id", found.interaction_id), *((k, v) for k, v in said if v))


def _endpoints(update: CallUpdate) -> tuple[str, ...]:
    """The phones a restored update shows a pop on (the agent's own for an outbound call)."""
    if isinstance(update, AgentRang):
        return (update.endpoint,)
    if isinstance(update, CallAnswered):
        endpoint = update.endpoint if update.endpoint is not None else update.call.agent
        return (endpoint,) if endpoint else ()
    return ()
