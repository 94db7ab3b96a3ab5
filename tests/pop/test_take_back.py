"""A node taking a server over shows its restored calls again without a second ``pop``.

The old owner popped the call and died; the new owner restores the call from its snapshot
(``CallTracker.restore``, through JSON as the store keeps it) and hands the updates to
``PopService.take_back`` with what the agents' tabs show (the kept frames, read back by
``agent_ui.notifier.open_pops``). A tab that shows the pop gets an update; one that does not
gets the pop. Real lab transcripts, the built-in CRM on SQLite, recording sinks.
"""

from __future__ import annotations

import asyncio
import json

from agent_ui import messages
from agent_ui.notifier import open_pops
from agent_ui.protocol import encode
from crm_connectors.builtin import BuiltinCrm
from cti.core.tracker import CallTracker
from cti.core.updates import AgentRang, CallAnswered, CallUpdate
from tests.pop.test_pop_service import Notifier, Records, crm, service
from tests.transcript import events_of, frames, is_agent

__all__ = ["crm"]  # the fixture


def _restored(name: str, until: type[CallUpdate], count: int = 1) -> list[CallUpdate]:
    """Feed ``name`` up to its ``count``-th ``until`` update; what a new owner restores then."""
    tracker = CallTracker(is_agent)
    for event in events_of(frames(name)):
        count -= sum(isinstance(u, until) for u in tracker.feed(event))
        if count <= 0:
            break
    [view] = tracker.active_calls()
    saved = json.loads(json.dumps(tracker.snapshot(view.call_id)))
    return CallTracker(is_agent).restore(saved)


def _screens(shown: dict[str, set[str]]) -> object:
    async def on_screen(agent: str) -> set[str]:
        return shown.get(agent, set())

    return on_screen


async def test_a_ringing_call_updates_the_pop_on_screen_and_pops_where_it_is_not(
    crm: BuiltinCrm,
) -> None:
    restored = _restored("queue_ringall_second_answers", AgentRang, count=2)
    [call_id] = {u.call.call_id for u in restored}
    ringing = {u.endpoint for u in restored if isinstance(u, AgentRang)}
    assert ringing == {"PJSIP/1001", "PJSIP/1002"}  # both phones of the ring-all ring
    notifier, records = Notifier(), Records()
    pops = service(crm, notifier, records)
    await pops.take_back(restored, _screens({"alice": {call_id}}))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)  # the lookup answers
    await pops.close()
    assert [kind for kind, *_ in notifier.kinds("alice")] == ["pop_update"]
    _, _, html, data = next(s for s in notifier.sent if s[1] == "alice")
    assert data["lookup"] == "done" and "Alice Archer" in html
    assert pops.was_shown("alice", call_id)
    assert pops.active_pops("alice")  # a tab resuming with a snapshot still gets the card
    assert [kind for kind, *_ in notifier.kinds("bob")] == ["pop"]  # bob's tab had none
    assert pops.pops_sent == 1


async def test_an_answered_call_on_screen_gets_its_state_and_an_update_only(
    crm: BuiltinCrm,
) -> None:
    restored = _restored("direct_answered", CallAnswered)
    [call_id] = {u.call.call_id for u in restored}
    notifier, records = Notifier(), Records()
    pops = service(crm, notifier, records)
    await pops.take_back(restored, _screens({"alice": {call_id}}))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    await pops.close()
    assert [kind for kind, *_ in notifier.kinds("alice")] == ["call_state", "pop_update"]
    assert notifier.kinds("alice")[0] == ("call_state", "answered")
    assert pops.pops_sent == 0
    assert pops.active_pops("alice")


async def test_nothing_on_screen_pops_as_a_restart_always_did(crm: BuiltinCrm) -> None:
    restored = _restored("direct_answered", CallAnswered)
    notifier, records = Notifier(), Records()
    pops = service(crm, notifier, records)
    await pops.take_back(restored, _screens({}))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    await pops.close()
    assert [kind for kind, *_ in notifier.kinds("alice")][:1] == ["pop"]
    assert pops.pops_sent == 1


def test_open_pops_follow_the_frames_as_the_desktop_applies_them() -> None:
    frames_ = [
        encode(messages.pop("lab:1", "<p>1</p>", {}), 1),
        encode(messages.pop("lab:2", "<p>2</p>", {}), 2),
        encode(messages.pop_update("lab:1", "<p>1+</p>", {}), 3),
        encode(messages.pop("lab:3", "<p>3</p>", {}), 4),
        encode(messages.pop_dismissed("lab:2", "answered_elsewhere"), 5),
        encode(messages.call_state("lab:3", "ended", {}), 6),
        encode(messages.call_state("lab:1", "answered", {}), 7),
    ]
    assert open_pops(frames_) == {"lab:1"}
    assert open_pops([]) == set()
