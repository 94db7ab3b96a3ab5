"""The one place that builds what the services tell browsers, and hands it to the hub.

:class:`Notifier` implements the ports the services own: ``cti.pop.service.AgentNotifier``
(pops and call states), ``cti.supervision.feed.SupervisorNotifier`` (supervisors' live views),
``cti.agent_state.StateListener`` (an agent's ready/paused/wrap-up state),
``cti.missed_calls.MissedCallNotifier`` (the missed-calls badge) and the dialer's
outcome of a click-to-dial. Each method builds
its frame with :mod:`agent_ui.messages` and queues it; none blocks (the hub queues and returns).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from agent_ui import messages
from agent_ui.hub import AgentHub
from agent_ui.protocol import Outgoing
from cti.agent_state import AgentState

__all__ = ["Notifier", "open_pops"]


class Notifier:
    """Send pops, call states, agent states and supervisors' live messages to every tab."""

    def __init__(self, hub: AgentHub) -> None:
        self._hub = hub

    # --------------------------------------------------------------- pops (numbered, replayed)
    def pop(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self._hub.send(agent, messages.pop(call_id, html, data))

    def pop_update(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self._hub.send(agent, messages.pop_update(call_id, html, data))

    def pop_dismissed(self, agent: str, call_id: str, reason: str) -> None:
        self._hub.send(agent, messages.pop_dismissed(call_id, reason))

    def call_state(
        self, agent: str, call_id: str, state: str, detail: Mapping[str, object]
    ) -> None:
        self._hub.send(agent, messages.call_state(call_id, state, detail))

    def agent_state(self, agent: str, state: AgentState) -> None:
        self._hub.send(agent, messages.agent_state(state.as_dict()))

    def dial_status(self, agent: str, message: Outgoing) -> None:
        self._hub.send(agent, message)

    async def pops_on_screen(self, agent: str) -> set[str]:
        """The calls whose pop ``agent``'s tabs show now, as the kept frames tell it.

        A node taking over a server asks before it shows the server's restored calls again, so
        that a tab which has the pop gets a ``pop_update``, not a second ``pop`` (issue 21).
        """
        return open_pops(await self._hub.kept(agent))

    # ------------------------------------------------- supervisors' live view (not numbered)
    def is_online(self, user: str) -> bool:
        return self._hub.connections_of(user) > 0

    def group_state(self, supervisor: str, state: Mapping[str, object]) -> None:
        self._hub.notify(supervisor, Outgoing("group_state", dict(state)))

    def template_failed(
        self, supervisor: str, group: str, error: str, call_id: str, at: float
    ) -> None:
        body = {"group": group, "error": error, "call_id": call_id, "at": at}
        self._hub.notify(supervisor, Outgoing("template_failed", body))

    def wallboard(self, supervisor: str, board: Mapping[str, object]) -> None:
        """A group's wallboard (cti.supervision.wallboard), when it changed to the second."""
        self._hub.notify(supervisor, Outgoing("wallboard", dict(board)))

    # ------------------------------------------------------- monitoring (cti.monitoring)
    def monitoring(self, agent: str, data: Mapping[str, object]) -> None:
        """Tell the agent a supervisor joined, switched mode on or left their call."""
        self._hub.notify(agent, Outgoing("monitoring", dict(data)))

    # ------------------------------------------------------- missed calls (cti.missed_calls)
    def missed_calls(self, agent: str, data: Mapping[str, object]) -> None:
        """Tell every tab of the agent that their missed-calls list changed (its badge)."""
        self._hub.notify(agent, Outgoing("missed_calls", dict(data)))

    # ------------------------------------------------------- recording (cti.recording)
    def recording(self, agent: str, data: Mapping[str, object]) -> None:
        """Tell the agent their call is recorded, paused, resumed or no longer recorded."""
        self._hub.notify(agent, messages.recording(data))


_CLOSING_STATES = frozenset({"ended", "transferred"})


def open_pops(frames: Iterable[str]) -> set[str]:
    """The call ids whose pop is open after ``frames`` (encoded, in seq order) were applied,
    as the desktop applies them: ``pop`` opens, ``pop_dismissed`` and an ended or transferred
    ``call_state`` close; a ``snapshot`` is never kept, so it does not occur here."""
    shown: set[str] = set()
    for frame in frames:
        message = json.loads(frame)
        kind, data = message.get("type"), message.get("data") or {}
        call_id = str(data.get("call_id", ""))
        if kind == "pop":
            shown.add(call_id)
        elif kind == "pop_dismissed" or (
            kind == "call_state" and data.get("state") in _CLOSING_STATES
        ):
            shown.discard(call_id)
    return shown
