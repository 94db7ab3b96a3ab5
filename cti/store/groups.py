"""Agent groups, their members, supervisors, DIDs and queues, on one connection.

A call's group is resolved as the pop service needs it (:func:`group_for`): the group its DID
is mapped to, else its queue's group, else the first group the agent joined.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from cti.errors import Conflict
from cti.store.agents import agent_ids
from cti.store.models import (
    agent_groups,
    agents,
    group_dids,
    group_members,
    group_queues,
    group_supervisors,
)
from cti.store.values import GroupInfo, GroupSpec, PopTrigger, WrapupScope

__all__ = [
    "agent_group_names",
    "delete_group",
    "group_for",
    "group_id",
    "group_infos",
    "insert_group",
    "replace_group",
]


def group_id(conn: Connection, name: str) -> int | None:
    found = conn.execute(select(agent_groups.c.id).where(agent_groups.c.name == name)).first()
    return None if found is None else int(found.id)


def insert_group(conn: Connection, spec: GroupSpec, now: datetime) -> int:
    """Insert a group with everything ``spec`` says; raise Conflict if its name is taken."""
    if group_id(conn, spec.name) is not None:
        raise Conflict("a group with that name exists", details={"group": spec.name})
    key = conn.execute(
        insert(agent_groups)
        .values(**_group_values(spec), created_at=now)
        .returning(agent_groups.c.id)
    ).scalar_one()
    _set_links(conn, int(key), spec, now)
    return int(key)


def replace_group(conn: Connection, key: int, spec: GroupSpec, now: datetime) -> None:
    """Make group ``key`` what ``spec`` says (it may rename it); members keep their join time."""
    other = group_id(conn, spec.name)
    if other is not None and other != key:
        raise Conflict("a group with that name exists", details={"group": spec.name})
    conn.execute(update(agent_groups).where(agent_groups.c.id == key).values(**_group_values(spec)))
    _set_links(conn, key, spec, now)


def delete_group(conn: Connection, name: str) -> bool:
    """Delete the group and its links (not its agents); False when there was none."""
    key = group_id(conn, name)
    if key is None:
        return False
    for table in (group_members, group_supervisors, group_dids, group_queues):
        conn.execute(delete(table).where(table.c.group_id == key))
    conn.execute(delete(agent_groups).where(agent_groups.c.id == key))
    return True


def group_infos(conn: Connection, keys: Iterable[int] | None = None) -> list[GroupInfo]:
    """Return the groups with ids ``keys`` (all when None), by name."""
    query = select(agent_groups).order_by(agent_groups.c.name)
    if keys is not None:
        query = query.where(agent_groups.c.id.in_(list(keys)))
    rows = conn.execute(query).all()
    ids = [row.id for row in rows]
    members = _usernames(conn, group_members, ids)
    supervisors = _usernames(conn, group_supervisors, ids)
    dids = _keys(conn, group_dids, group_dids.c.did, ids)
    queues = _keys(conn, group_queues, group_queues.c.queue, ids)
    return [
        GroupInfo(
            id=row.id,
            spec=GroupSpec(
                name=row.name,
                trigger=PopTrigger(row.pop_trigger),
                dispositions=tuple(row.dispositions),
                wrapup_seconds=row.wrapup_seconds,
                wrapup_applies_to=WrapupScope(row.wrapup_applies_to),
                template=row.template,
                members=members[row.id],
                supervisors=supervisors[row.id],
                dids=dids[row.id],
                queues=queues[row.id],
            ),
        )
        for row in rows
    ]


def group_for(
    conn: Connection, *, did: str | None, queue: str | None, agent: str | None
) -> GroupInfo | None:
    """Return the call's group: by DID, else by queue, else the agent's first; None if none."""
    candidates = []
    if did:
        candidates.append(select(group_dids.c.group_id).where(group_dids.c.did == did))
    if queue:
        candidates.append(select(group_queues.c.group_id).where(group_queues.c.queue == queue))
    if agent:
        candidates.append(_first_group_of(agent))
    for query in candidates:
        key = conn.execute(query).scalar()
        if key is not None:
            return group_infos(conn, [key])[0]
    return None


def agent_group_names(conn: Connection) -> dict[str, tuple[str, ...]]:
    """Return username -> the names of the agent's groups, the first joined first."""
    rows = conn.execute(
        select(agents.c.username, agent_groups.c.name)
        .join(group_members, group_members.c.agent_id == agents.c.id)
        .join(agent_groups, agent_groups.c.id == group_members.c.group_id)
        .order_by(agents.c.username, group_members.c.added_at, agent_groups.c.id)
    )
    names: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        names[row.username].append(row.name)
    return {username: tuple(groups) for username, groups in names.items()}


def _first_group_of(username: str) -> Any:
    return (
        select(group_members.c.group_id)
        .join(agents, agents.c.id == group_members.c.agent_id)
        .where(agents.c.username == username)
        .order_by(group_members.c.added_at, group_members.c.group_id)
        .limit(1)
    )


def _group_values(spec: GroupSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "pop_trigger": spec.trigger.value,
        "dispositions": list(spec.dispositions),
        "wrapup_seconds": spec.wrapup_seconds,
        "wrapup_applies_to": spec.wrapup_applies_to.value,
        "template": spec.template,
    }


def _set_links(conn: Connection, key: int, spec: GroupSpec, now: datetime) -> None:
    member_ids = agent_ids(conn, spec.members)
    supervisor_ids = agent_ids(conn, spec.supervisors)
    _check_unclaimed(conn, group_dids, group_dids.c.did, spec.dids, key)
    _check_unclaimed(conn, group_queues, group_queues.c.queue, spec.queues, key)
    current = set(
        conn.execute(select(group_members.c.agent_id).where(group_members.c.group_id == key))
        .scalars()
        .all()
    )
    wanted = set(member_ids.values())
    if current - wanted:
        conn.execute(
            delete(group_members).where(
                group_members.c.group_id == key, group_members.c.agent_id.in_(current - wanted)
            )
        )
    _insert_many(
        conn,
        group_members,
        [{"group_id": key, "agent_id": a, "added_at": now} for a in wanted - current],
    )
    conn.execute(delete(group_supervisors).where(group_supervisors.c.group_id == key))
    _insert_many(
        conn, group_supervisors, [{"group_id": key, "agent_id": a} for a in supervisor_ids.values()]
    )
    for table, column, values in (
        (group_dids, "did", spec.dids),
        (group_queues, "queue", spec.queues),
    ):
        conn.execute(delete(table).where(table.c.group_id == key))
        _insert_many(conn, table, [{column: value, "group_id": key} for value in values])


def _check_unclaimed(
    conn: Connection, table: Table, column: Any, values: tuple[str, ...], key: int
) -> None:
    if not values:
        return
    taken = conn.execute(
        select(column.label("value"), agent_groups.c.name)
        .join(agent_groups, agent_groups.c.id == table.c.group_id)
        .where(column.in_(values), table.c.group_id != key)
    ).first()
    if taken is not None:
        raise Conflict(
            f"{column.name} {taken.value} already belongs to group {taken.name}",
            details={column.name: taken.value, "group": taken.name},
        )


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), rows)


def _usernames(conn: Connection, table: Table, ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {key: [] for key in ids}
    if ids:
        rows = conn.execute(
            select(table.c.group_id, agents.c.username)
            .join(agents, agents.c.id == table.c.agent_id)
            .where(table.c.group_id.in_(ids))
            .order_by(agents.c.username)
        )
        for row in rows:
            found[row.group_id].append(row.username)
    return {key: tuple(names) for key, names in found.items()}


def _keys(
    conn: Connection, table: Table, column: Any, ids: list[int]
) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {key: [] for key in ids}
    if ids:
        for row in conn.execute(
            select(table.c.group_id, column.label("value"))
            .where(table.c.group_id.in_(ids))
            .order_by(column)
        ):
            found[row.group_id].append(row.value)
    return {key: tuple(values) for key, values in found.items()}
