"""Who owns which phone, and which group's template a call pops with: an in-memory snapshot.

Pop targeting runs on the AMI read path, which must never wait on a database; the composition
root builds a :class:`Directory` from the store at start-up and again after every change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cti.pop.render import DEFAULT_TEMPLATE

__all__ = ["Directory", "DirectoryRef", "GroupConfig", "WrapupScope"]

Trigger = Literal["ringing", "answered"]
WrapupScope = Literal["queue", "all", "none"]


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """How one agent group's pops look and behave."""

    name: str
    template: str = DEFAULT_TEMPLATE
    trigger: Trigger = "ringing"
    dispositions: tuple[str, ...] = ("Resolved", "Follow-up", "Escalated", "Wrong number")
    wrapup_seconds: int = 0
    wrapup_applies_to: WrapupScope = "queue"

    def wrapup_after(self, queue: str | None) -> int:
        """Seconds of wrap-up after an answered call that came through ``queue`` (None: direct).

        Queue calls only by default: wrap-up pauses the agent in every queue, and a group
        whose agents also take direct calls would otherwise keep its queues without agents.
        """
        applies = self.wrapup_applies_to == "all" or (
            self.wrapup_applies_to == "queue" and bool(queue)
        )
        return self.wrapup_seconds if applies else 0


DEFAULT_GROUP = GroupConfig(name="default")


@dataclass(frozen=True, slots=True)
class Directory:
    endpoint_owners: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    did_groups: dict[str, str] = field(default_factory=dict)
    queue_groups: dict[str, str] = field(default_factory=dict)
    agent_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    trunk_groups: dict[tuple[str, str], str] = field(default_factory=dict)  # (server, trunk)
    # A device added by MAC (PJSIP/d<mac>) -> its agent's own endpoint, which it rings with.
    phone_aliases: dict[str, str] = field(default_factory=dict)

    def owners(self, endpoint: str) -> tuple[str, ...]:
        """The agents whose phone ``endpoint`` is (none for a trunk or an unknown phone)."""
        return self.endpoint_owners.get(endpoint, ())

    def is_agent_endpoint(self, endpoint: str) -> bool:
        return endpoint in self.endpoint_owners

    def group_for(
        self,
        *,
        did: str | None,
        queue: str | None,
        agent: str,
        server: str | None = None,
        trunk: str | None = None,
    ) -> GroupConfig:
        """The DID's group first, then the queue's, then the trunk's default group (an admin
        maps it for calls on a trunk whose DIDs are not mapped), then the agent's first group."""
        for name in (
            self.did_groups.get(did or ""),
            self.queue_groups.get(queue or ""),
            self.trunk_groups.get((server or "", trunk or "")),
            *self.agent_groups.get(agent, ()),
        ):
            if name and name in self.groups:
                return self.groups[name]
        return DEFAULT_GROUP


class DirectoryRef:
    """The directory in force: readers call it (or ask it) each time, the root swaps in a new one.

    Parts built once (the tracker, the pop service, supervision, agent states) hold this and
    see a rebuilt directory at once, without a reference back to the composition root.
    """

    __slots__ = ("current",)

    def __init__(self, directory: Directory | None = None) -> None:
        self.current = directory if directory is not None else Directory()

    def __call__(self) -> Directory:
        return self.current

    def is_agent_endpoint(self, endpoint: str) -> bool:
        return endpoint in self.current.endpoint_owners

    def phone_of(self, endpoint: str) -> str:
        """The agent endpoint ``endpoint`` rings for: a device's agent's (the call tracker's
        ``phone_of``), else ``endpoint`` itself."""
        return self.current.phone_aliases.get(endpoint, endpoint)
