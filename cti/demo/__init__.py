"""The demo: agents on the lab phones, two groups, and the demo CRM; idempotent."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from crm_connectors.builtin import seed_demo
from crm_connectors.builtin import upgrade as upgrade_crm
from cti.config import Settings
from cti.errors import Conflict
from cti.store import Store
from cti.store.values import GroupSpec

__all__ = ["DEMO_AGENTS", "DemoAgent", "seed"]


@dataclass(frozen=True, slots=True)
class DemoAgent:
    username: str
    display_name: str
    role: str
    endpoint: str | None

    @property
    def password(self) -> str:
        return f"{self.username}-demo"


DEMO_AGENTS = (
    DemoAgent("alice", "Alice Agent", "agent", "PJSIP/1001"),
    DemoAgent("bob", "Bob Agent", "agent", "PJSIP/1002"),
    DemoAgent("carol", "Carol Agent", "agent", "PJSIP/1003"),
    DemoAgent("dave", "Dave Agent", "agent", "PJSIP/1004"),
    DemoAgent("erin", "Erin Agent", "agent", "PJSIP/1005"),
    DemoAgent("sam", "Sam Supervisor", "supervisor", None),
    DemoAgent("root", "Ada Admin", "admin", None),
)

DEMO_GROUPS = (
    GroupSpec(
        name="Sales",
        members=("alice", "bob"),
        supervisors=("sam",),
        queues=("sales",),
        dids=("442079460100",),
        dispositions=("Sale", "Quote sent", "Call back", "Not interested"),
    ),
    GroupSpec(
        name="Support",
        members=("carol", "dave", "erin"),
        supervisors=("sam",),
        queues=("support",),
        dids=("442079460200",),
        dispositions=("Resolved", "Follow-up", "Escalated", "Wrong number"),
        wrapup_seconds=15,
    ),
)


def seed(settings: Settings) -> list[DemoAgent]:
    """Create the demo agents, groups and CRM where missing; return the agents (with logins)."""
    store = Store.from_settings(settings.store)
    try:
        store.upgrade()
        for agent in DEMO_AGENTS:
            if store.get_agent(agent.username) is None:
                store.create_agent(
                    agent.username,
                    password=agent.password,
                    display_name=agent.display_name,
                    role=agent.role,
                    endpoints=[agent.endpoint] if agent.endpoint else [],
                )
        for group in DEMO_GROUPS:
            with contextlib.suppress(Conflict):  # seeded before
                store.create_group(group)
    finally:
        store.close()
    crm_url = settings.crm.builtin_url or settings.store.url
    upgrade_crm(crm_url)
    seed_demo(crm_url, settings.crm.default_region)
    return list(DEMO_AGENTS)
