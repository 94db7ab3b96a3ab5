"""What the supervisor console changes: agent groups and their pop template versions, audited.

Every change and its audit event (``events``: who, what, when) are one transaction. Versions
are append-only: a save adds one, a roll back adds a copy of an older one; publishing stamps
the version and copies what it says onto the group (template, trigger, dispositions, wrap-up),
so the daemon's directory picks it up like any other group change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from cti.errors import NotFound, ValidationFailed
from cti.store import audit, groups
from cti.store.models import agent_groups, template_versions, trunk_groups
from cti.store.store import Store
from cti.store.values import GroupInfo, GroupSpec, PopTrigger

__all__ = [
    "TemplateVersion",
    "add_version",
    "create_group",
    "delete_group",
    "publish_version",
    "template_version",
    "template_versions_of",
    "trunk_mappings",
    "update_group",
]

MAX_NOTE = 255
MAX_VERSIONS_LISTED = 500


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """One saved pop template of a group; ``live`` when it is the one published last."""

    group: str
    number: int
    source: str | None  # None: the product's standard template
    settings: dict[str, Any]
    author: str
    note: str
    created_at: datetime
    published_at: datetime | None
    live: bool

    def summary(self) -> dict[str, Any]:
        """The version without its source, as JSON values."""
        return {
            "number": self.number,
            "author": self.author,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "live": self.live,
            "standard": self.source is None,
        }


# ---------------------------------------------------------------------------- groups
def create_group(store: Store, spec: GroupSpec, actor: str) -> GroupInfo:
    """Add a group (Conflict for a taken name, DID or queue) and log who did."""
    with store.writing("supervision.create_group") as conn:
        key = groups.insert_group(conn, spec, store.clock())
        _event(store, conn, "group.created", {"group": spec.name, **_spec_details(spec)}, actor)
        return groups.group_infos(conn, [key])[0]


def update_group(store: Store, name: str, changes: Mapping[str, Any], actor: str) -> GroupInfo:
    """Apply ``changes`` (name, members, supervisors, dids, queues, which calls have wrap-up)
    to group ``name`` and log.

    The rest of the group (its template, trigger, dispositions, wrap-up length) stays as it is.
    """
    with store.writing("supervision.update_group") as conn:
        key = _group_key(conn, name)
        before = groups.group_infos(conn, [key])[0].spec
        spec = replace(before, **changes)
        groups.replace_group(conn, key, spec, store.clock())
        old, new = _spec_details(before), _spec_details(spec)
        diff = {k: {"from": old[k], "to": new[k]} for k in old if old[k] != new[k]}
        if before.name != spec.name:
            diff["name"] = {"from": before.name, "to": spec.name}
        _event(store, conn, "group.updated", {"group": spec.name, "changes": diff}, actor)
        return groups.group_infos(conn, [key])[0]


def delete_group(store: Store, name: str, actor: str) -> None:
    """Delete a group (its agents stay; its template versions go with it) and log it."""
    with store.writing("supervision.delete_group") as conn:
        if not groups.delete_group(conn, name):
            raise NotFound("no such group", details={"group": name})
        _event(store, conn, "group.deleted", {"group": name}, actor)


def _spec_details(spec: GroupSpec) -> dict[str, Any]:
    return {
        "members": list(spec.members),
        "supervisors": list(spec.supervisors),
        "dids": list(spec.dids),
        "queues": list(spec.queues),
        "wrapup_applies_to": str(spec.wrapup_applies_to),
    }


# ---------------------------------------------------------------------------- versions
def add_version(
    store: Store,
    group: str,
    source: str | None,
    settings: Mapping[str, Any],
    *,
    author: str,
    note: str = "",
    kind: str = "template.saved",
    details: Mapping[str, Any] | None = None,
) -> TemplateVersion:
    """Save a new version of ``group``'s pop template (numbered after the last one)."""
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"a note is at most {MAX_NOTE} characters")
    with store.writing("supervision.add_version") as conn:
        key = _group_key(conn, group)
        last = conn.execute(
            select(func.max(template_versions.c.number)).where(template_versions.c.group_id == key)
        ).scalar()
        number = int(last or 0) + 1
        conn.execute(
            insert(template_versions).values(
                group_id=key,
                number=number,
                source=source,
                settings=dict(settings),
                author=author,
                note=note,
                created_at=store.clock(),
            )
        )
        info = {"group": group, "version": number, **(details or {})}
        _event(store, conn, kind, info, author)
        return _versions(conn, key, group, number)[0]


def template_versions_of(store: Store, group: str) -> list[TemplateVersion]:
    """Every version of ``group``'s template, newest first (at most 500)."""
    with store.reading("supervision.template_versions") as conn:
        return _versions(conn, _group_key(conn, group), group, None)


def template_version(store: Store, group: str, number: int) -> TemplateVersion:
    """Version ``number`` of ``group``'s template; NotFound if there is none."""
    with store.reading("supervision.template_version") as conn:
        found = _versions(conn, _group_key(conn, group), group, number)
    if not found:
        raise NotFound("no such version", details={"group": group, "version": number})
    return found[0]


def publish_version(
    store: Store,
    group: str,
    number: int,
    *,
    template: str,
    trigger: str,
    dispositions: tuple[str, ...],
    wrapup_seconds: int,
    actor: str,
    kind: str = "template.published",
) -> TemplateVersion:
    """Make version ``number`` the group's live pop: copy it onto the group, stamp it, log it."""
    with store.writing("supervision.publish_version") as conn:
        key = _group_key(conn, group)
        if not _versions(conn, key, group, number):
            raise NotFound("no such version", details={"group": group, "version": number})
        now = store.clock()
        conn.execute(
            update(agent_groups)
            .where(agent_groups.c.id == key)
            .values(
                template=template,
                pop_trigger=PopTrigger(trigger).value,
                dispositions=list(dispositions),
                wrapup_seconds=wrapup_seconds,
            )
        )
        conn.execute(
            update(template_versions)
            .where(template_versions.c.group_id == key, template_versions.c.number == number)
            .values(published_at=now)
        )
        _event(store, conn, kind, {"group": group, "version": number}, actor)
        return _versions(conn, key, group, number)[0]


def trunk_mappings(store: Store) -> list[dict[str, str]]:
    """The admin console's trunk -> default group map: server, trunk, group."""
    with store.reading("supervision.trunk_mappings") as conn:
        result = conn.execute(
            select(trunk_groups.c.server, trunk_groups.c.trunk, agent_groups.c.name)
            .join(agent_groups, agent_groups.c.id == trunk_groups.c.group_id)
            .order_by(trunk_groups.c.server, trunk_groups.c.trunk)
        )
        return [{"server": r.server, "trunk": r.trunk, "group": r.name} for r in result]


# ---------------------------------------------------------------------------- helpers
def _group_key(conn: Connection, name: str) -> int:
    key = groups.group_id(conn, name)
    if key is None:
        raise NotFound("no such group", details={"group": name})
    return key


def _event(
    store: Store, conn: Connection, kind: str, details: Mapping[str, Any], actor: str
) -> None:
    audit.append_event(conn, f"supervisor.{kind}", details, actor, store.clock())


def _versions(conn: Connection, key: int, group: str, number: int | None) -> list[TemplateVersion]:
    live = conn.execute(
        select(template_versions.c.number)
        .where(template_versions.c.group_id == key, template_versions.c.published_at.is_not(None))
        .order_by(template_versions.c.published_at.desc(), template_versions.c.id.desc())
        .limit(1)
    ).scalar()
    query = (
        select(template_versions)
        .where(template_versions.c.group_id == key)
        .order_by(template_versions.c.number.desc())
        .limit(MAX_VERSIONS_LISTED)
    )
    if number is not None:
        query = query.where(template_versions.c.number == number)
    return [
        TemplateVersion(
            group=group,
            number=row.number,
            source=row.source,
            settings=dict(row.settings),
            author=row.author,
            note=row.note,
            created_at=row.created_at,
            published_at=row.published_at,
            live=row.number == live,
        )
        for row in conn.execute(query)
    ]
