"""The pop service's way to the browsers: build the message (agent_ui.messages), hand it to the hub.

:class:`Notifier` implements ``cti.pop.service.AgentNotifier``. Its methods never block: the hub
queues and returns.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_ui import messages
from cti.hub import AgentHub

__all__ = ["Notifier"]


class Notifier:
    """Send pops, pop updates, dismissals and call states to an agent's every tab."""

    def __init__(self, hub: AgentHub) -> None:
        self._hub = hub

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
