"""The admin console's reads and writes on the store (its own tables and the agents').

Every function takes the synchronous :class:`~cti.store.Store`; the console runs them on the
store's threads. An import is applied in one transaction: all of it or nothing, with its event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from cti.admin.pbxconf import GroupRouting, ProvisionedAgent, sip_digest
from cti.admin.validate import AgentValues, Change, Existing, ExistingAgent, ImportPlan
from cti.errors import Conflict, NotFound
from cti.store import Store, audit
from cti.store import agents as agent_rows
from cti.store.models import agent_groups, agent_profiles, agents, group_members
from cti.store.values import AgentEndpoint, AgentInfo

__all__ = [
    "ApplyResult",
    "apply_plan",
    "existing_snapshot",
    "export_rows",
    "group_routings",
    "new_secret",
    "provisioned_agents",
]

_LISTED_MAX = 200  # usernames listed per kind in the import's event


def new_secret() -> str:
    """A strong SIP secret: 144 random bits, URL-safe (no characters SIP or configs mind)."""
    return secrets.token_urlsafe(18)


@dataclass(slots=True)
class ApplyResult:
    counts: dict[str, int]
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # username -> shown once
    event_id: int | None = None


def _extension_of(agent: AgentInfo) -> str:
    for endpoint in agent.endpoints:
        tech, _, resource = endpoint.endpoint.partition("/")
        if tech.upper() == "PJSIP" and resource.isdigit():
            return resource
    return ""


def _profiles(conn: Connection) -> dict[int, Any]:
    return {row.agent_id: row for row in conn.execute(select(agent_profiles))}


def existing_snapshot(store: Store) -> Existing:
    """Read agents, profiles, extensions and group names once, for the validator."""
    infos = store.agents()
    memberships = store.agent_group_names()
    with store.reading("admin.snapshot") as conn:
        profiles = _profiles(conn)
        group_names = frozenset(conn.execute(select(agent_groups.c.name)).scalars())
    found: dict[str, ExistingAgent] = {}
    owners: dict[str, str] = {}
    for info in infos:
        profile = profiles.get(info.id)
        first, _, last = info.display_name.partition(" ")
        extension = profile.extension if profile is not None else _extension_of(info)
        found[info.username] = ExistingAgent(
            username=info.username,
            first_name=profile.first_name if profile is not None else first,
            last_name=profile.last_name if profile is not None else last,
            email=info.email or "",
            role=str(info.role),
            extension=extension,
            groups=memberships.get(info.username, ()),
            salesforce_user=(profile.salesforce_user or "") if profile is not None else "",
        )
        for endpoint in info.endpoints:
            tech, _, resource = endpoint.endpoint.partition("/")
            if tech.upper() == "PJSIP" and resource.isdigit():
                owners[resource] = info.username
        if extension:
            owners[extension] = info.username
    return Existing(found, owners, group_names)


def export_rows(store: Store) -> list[dict[str, str]]:
    """Every agent as a workbook row with action ``keep`` (secrets are never exported)."""
    snapshot = existing_snapshot(store)
    return [
        {
            "action": "keep",
            "username": a.username,
            "first_name": a.first_name,
            "last_name": a.last_name,
            "email": a.email,
            "extension": a.extension,
            "endpoint_secret": "",
            "groups": "; ".join(a.groups),
            "role": a.role,
            "salesforce_user": a.salesforce_user,
        }
        for a in sorted(snapshot.agents.values(), key=lambda a: a.username)
    ]


# --------------------------------------------------------------------------------- apply
class _Applier:
    def __init__(self, conn: Connection, now: datetime, realm: str) -> None:
        self.conn, self.now, self.realm = conn, now, realm
        self.groups = {row.name: row.id for row in conn.execute(select(agent_groups))}
        self.secrets: dict[str, str] = {}

    def create(self, change: Change) -> None:
        values = change.values
        assert values is not None
        key = agent_rows.insert_agent(
            self.conn,
            {
                "username": change.username,
                "display_name": values.display_name,
                "email": values.email,
                "role": values.role,
                "active": True,
                "password_hash": None,
                "created_at": self.now,
            },
        )
        agent_rows.replace_endpoints(self.conn, key, [AgentEndpoint(f"PJSIP/{values.extension}")])
        self.conn.execute(
            insert(agent_profiles).values(
                agent_id=key, **self._profile(values), sip_digest=self._digest(change)
            )
        )
        self._set_groups(key, values.groups)

    def update(self, change: Change) -> None:
        values = change.values
        assert values is not None
        row = agent_rows.agent_row(self.conn, change.username)
        if row is None:
            raise NotFound("no such agent", details={"username": change.username})
        key = int(row.id)
        agent_rows.update_agent_row(
            self.conn,
            key,
            {"display_name": values.display_name, "email": values.email, "role": values.role},
        )
        infos = agent_rows.agent_infos(self.conn, [change.username])
        old = _extension_of(infos[0]) if infos else ""
        profile = self.conn.execute(
            select(agent_profiles).where(agent_profiles.c.agent_id == key)
        ).first()
        old = profile.extension if profile is not None else old
        kept = [e for e in infos[0].endpoints if e.endpoint != f"PJSIP/{old}"] if infos else []
        agent_rows.replace_endpoints(
            self.conn, key, [AgentEndpoint(f"PJSIP/{values.extension}"), *kept]
        )
        digest = self._digest(change)
        fields = self._profile(values)
        if profile is None:
            self.conn.execute(
                insert(agent_profiles).values(agent_id=key, **fields, sip_digest=digest)
            )
        else:
            digest = digest or profile.sip_digest
            self.conn.execute(
                update(agent_profiles)
                .where(agent_profiles.c.agent_id == key)
                .values(**fields, sip_digest=digest)
            )
        self._set_groups(key, values.groups)

    def delete(self, change: Change) -> None:
        self.conn.execute(delete(agents).where(agents.c.username == change.username))

    def _profile(self, values: AgentValues) -> dict[str, Any]:
        return {
            "first_name": values.first_name,
            "last_name": values.last_name,
            "extension": values.extension,
            "salesforce_user": values.salesforce_user or None,
            "updated_at": self.now,
        }

    def _digest(self, change: Change) -> str | None:
        assert change.values is not None
        if change.key_plan == "keep":
            return None
        secret = change.secret if change.key_plan == "explicit" else new_secret()
        assert secret is not None
        if change.key_plan == "generate":
            self.secrets[change.username] = secret
        return sip_digest(change.values.extension, self.realm, secret)

    def _set_groups(self, key: int, names: Sequence[str]) -> None:
        missing = [n for n in names if n not in self.groups]
        if missing:
            raise Conflict("a group was deleted meanwhile", details={"groups": missing})
        wanted = {self.groups[n] for n in names}
        current = set(
            self.conn.execute(
                select(group_members.c.group_id).where(group_members.c.agent_id == key)
            ).scalars()
        )
        if current - wanted:
            self.conn.execute(
                delete(group_members).where(
                    group_members.c.agent_id == key,
                    group_members.c.group_id.in_(current - wanted),
                )
            )
        for group in sorted(wanted - current):
            self.conn.execute(
                insert(group_members).values(group_id=group, agent_id=key, added_at=self.now)
            )


def apply_plan(
    store: Store,
    plan: ImportPlan,
    *,
    realm: str,
    actor: str,
    filename: str,
    progress: Callable[[int], None] = lambda done: None,
    also: Callable[[Connection], tuple[dict[str, int], dict[str, str]]] | None = None,
) -> ApplyResult:
    """Apply a plan without errors in one transaction, with an ``admin.import`` event;
    ``also`` (the workbook's site sheets) runs in the same transaction, after the agents."""
    if not plan.ok:
        raise Conflict("the import still has errors", details={"errors": len(plan.errors)})
    with store.writing("admin.import") as conn:
        applier = _Applier(conn, store.clock(), realm)
        for done, change in enumerate(plan.changes, start=1):
            if change.kind == "create":
                applier.create(change)
            elif change.kind == "update":
                applier.update(change)
            elif change.kind == "delete":
                applier.delete(change)
            if done % 200 == 0:
                progress(done)
        counts = plan.counts()
        if also is not None:
            more, shown = also(conn)
            counts |= more
            applier.secrets.update(shown)
        listed = {
            kind: [c.username for c in plan.changes if c.kind == kind][:_LISTED_MAX]
            for kind in ("create", "update", "delete")
        }
        event_id = audit.append_event(
            conn,
            "admin.import",
            {"file": filename[:200], "counts": counts, "agents": listed},
            actor,
            store.clock(),
        )
    progress(len(plan.changes))
    return ApplyResult(counts, applier.secrets, event_id)


# ------------------------------------------------------------------------ config inputs
def provisioned_agents(store: Store) -> list[ProvisionedAgent]:
    """Every active agent with a profile (an extension), for the config generator."""
    memberships = store.agent_group_names()
    with store.reading("admin.provisioned") as conn:
        rows = conn.execute(
            select(agents.c.username, agents.c.display_name, agent_profiles)
            .join(agent_profiles, agent_profiles.c.agent_id == agents.c.id)
            .where(agents.c.active.is_(True))
        ).all()
    return [
        ProvisionedAgent(
            username=row.username,
            display_name=row.display_name,
            extension=row.extension,
            sip_digest=row.sip_digest,
            groups=memberships.get(row.username, ()),
        )
        for row in rows
    ]


def group_routings(store: Store) -> list[GroupRouting]:
    return [GroupRouting(g.name, g.spec.queues, g.spec.dids) for g in store.groups()]
