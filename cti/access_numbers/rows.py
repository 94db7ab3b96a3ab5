"""The access-number SQL, one function per operation on a connection in the caller's
transaction (the service opens it, and writes the audit event in the same one).

Reserving locks the pool's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's writers take
the database lock with ``BEGIN IMMEDIATE``), so two daemon processes reserving from one pool
take turns; the unique ``hold`` column is the last line of defence.
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from cti.access_numbers.values import AccessNumber, Interaction, Pool, PoolSpec, PoolStatus, Refusal
from cti.errors import Conflict, NotFound, ValidationFailed
from cti.store.access_tables import (
    access_numbers,
    access_pools,
    access_refusals,
    access_reservations,
)
from cti.store.models import agent_groups, group_dids

__all__ = [
    "consume",
    "create_pool",
    "delete_pool",
    "end_reservation",
    "expire_due",
    "get_interaction",
    "live_interactions",
    "lock_pool",
    "pool_status",
    "pools",
    "reserve",
    "update_pool",
]

_R = access_reservations


def _hold(did: str, caller: str | None) -> str:
    return f"{did}|{caller or '*'}"


def pools(conn: Connection) -> list[Pool]:
    """Every pool with its numbers, by name."""
    numbers: dict[int, list[AccessNumber]] = defaultdict(list)
    for row in conn.execute(select(access_numbers).order_by(access_numbers.c.did)):
        numbers[row.pool_id].append(AccessNumber(row.did, row.e164))
    return [
        Pool(
            id=row.id,
            name=row.name,
            purpose=row.purpose,
            group=row.group_name,
            hold_seconds=row.hold_seconds,
            policy=row.policy,
            numbers=tuple(numbers[row.id]),
        )
        for row in conn.execute(select(access_pools).order_by(access_pools.c.name))
    ]


def _pool_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    query = select(access_pools).where(access_pools.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("no such pool", details={"field": "pool", "pool": name[:64]})
    return row


def lock_pool(conn: Connection, name: str) -> Row[Any]:
    """The pool's row, locked for this transaction (reservations from one pool take turns);
    NotFound naming the pool."""
    return _pool_row(conn, name, lock=True)


def _check_numbers_free(conn: Connection, spec: PoolSpec, pool_id: int | None) -> None:
    dids = [n.did for n in spec.numbers]
    taken = (
        conn.execute(
            select(access_numbers.c.did).where(
                access_numbers.c.did.in_(dids),
                access_numbers.c.pool_id != (pool_id or -1),
            )
        )
        .scalars()
        .all()
    )
    if taken:
        raise Conflict(
            "a DID is already in another pool", details={"field": "numbers", "dids": taken[:10]}
        )


def _check_routed(conn: Connection, spec: PoolSpec) -> None:
    """Refuse DIDs the DID map does not route (a customer would call a number that rings no
    group) and a group that does not exist."""
    dids = [n.did for n in spec.numbers]
    routed = set(conn.execute(select(group_dids.c.did).where(group_dids.c.did.in_(dids))).scalars())
    unrouted = [did for did in dids if did not in routed]
    if unrouted:
        raise ValidationFailed(
            "map each pool number to a group in the DID map first: " + ", ".join(unrouted[:5]),
            details={"field": "numbers", "unrouted": unrouted[:10]},
        )
    if spec.group is not None:
        known = conn.execute(
            select(agent_groups.c.id).where(agent_groups.c.name == spec.group)
        ).scalar()
        if known is None:
            raise ValidationFailed("no such group", details={"field": "group"})


def create_pool(conn: Connection, spec: PoolSpec, now: datetime) -> int:
    """Create a pool; Conflict if the name or one of its DIDs is taken, ValidationFailed if a
    DID is not in the DID map."""
    _check_routed(conn, spec)
    _check_numbers_free(conn, spec, None)
    pool_id = int(
        conn.execute(
            insert(access_pools)
            .values(
                name=spec.name,
                purpose=spec.purpose,
                group_name=spec.group,
                hold_seconds=spec.hold_seconds,
                policy=spec.policy,
                created_at=now,
            )
            .returning(access_pools.c.id)
        ).scalar_one()
    )
    _insert_numbers(conn, pool_id, spec.numbers)
    return pool_id


def _insert_numbers(conn: Connection, pool_id: int, numbers: tuple[AccessNumber, ...]) -> None:
    conn.execute(
        insert(access_numbers),
        [{"did": n.did, "e164": n.e164, "pool_id": pool_id} for n in numbers],
    )


def update_pool(conn: Connection, name: str, spec: PoolSpec) -> None:
    """Change a pool (not its name); numbers removed from it lose their live reservations."""
    row = _pool_row(conn, name, lock=True)
    _check_routed(conn, spec)
    _check_numbers_free(conn, spec, row.id)
    conn.execute(
        update(access_pools)
        .where(access_pools.c.id == row.id)
        .values(
            purpose=spec.purpose,
            group_name=spec.group,
            hold_seconds=spec.hold_seconds,
            policy=spec.policy,
        )
    )
    kept = {n.did for n in spec.numbers}
    old = {
        r.did: r
        for r in conn.execute(select(access_numbers).where(access_numbers.c.pool_id == row.id))
    }
    gone = [did for did in old if did not in kept]
    if gone:
        conn.execute(delete(access_numbers).where(access_numbers.c.did.in_(gone)))
        conn.execute(
            update(_R)
            .where(_R.c.did.in_(gone), _R.c.state == "live")
            .values(state="cancelled", hold=None)
        )
    _insert_numbers_if_any(conn, row.id, tuple(n for n in spec.numbers if n.did not in old))
    for n in spec.numbers:
        if n.did in old and old[n.did].e164 != n.e164:
            conn.execute(
                update(access_numbers).where(access_numbers.c.did == n.did).values(e164=n.e164)
            )


def _insert_numbers_if_any(
    conn: Connection, pool_id: int, numbers: tuple[AccessNumber, ...]
) -> None:
    if numbers:
        _insert_numbers(conn, pool_id, numbers)


def delete_pool(conn: Connection, name: str) -> None:
    """Delete a pool, its numbers and its reservations' history."""
    row = _pool_row(conn, name, lock=True)
    for table in (_R, access_refusals, access_numbers):
        conn.execute(delete(table).where(table.c.pool_id == row.id))
    conn.execute(delete(access_pools).where(access_pools.c.id == row.id))


def _expire_pool(conn: Connection, pool_id: int, now: datetime) -> None:
    conn.execute(
        update(_R)
        .where(_R.c.pool_id == pool_id, _R.c.state == "live", _R.c.expires_at <= now)
        .values(state="expired", hold=None, ended_at=_R.c.expires_at)
    )


def reserve(
    conn: Connection,
    pool_name: str,
    *,
    caller: str | None,
    customer_phone: str | None,
    customer_crm_id: str | None,
    context: dict[str, Any],
    key_id: int | None,
    now: datetime,
    locked: Row[Any] | None = None,
) -> Interaction | Refusal:
    """Reserve a number of ``pool_name`` for one interaction, or say when to try again.

    A DID may carry several live reservations only when their caller numbers differ; a
    reservation without a caller number holds its DID alone. Free numbers go first, least
    recently used first; a caller-specific request may then share a DID held for other callers.
    ``locked`` is the pool's row if the caller already locked it (:func:`lock_pool`).
    """
    pool = locked if locked is not None else lock_pool(conn, pool_name)
    _expire_pool(conn, pool.id, now)
    chosen = _choose(conn, pool.id, caller)
    if chosen is None and pool.policy == "take_oldest":
        oldest = conn.execute(
            select(_R.c.id)
            .where(_R.c.pool_id == pool.id, _R.c.state == "live")
            .order_by(_R.c.created_at, _R.c.id)
            .limit(1)
        ).scalar()
        if oldest is not None:
            end_reservation(conn, oldest, "cancelled", now)
            chosen = _choose(conn, pool.id, caller)
    if chosen is None:
        conn.execute(insert(access_refusals).values(pool_id=pool.id, at=now))
        soonest = conn.execute(
            select(func.min(_R.c.expires_at)).where(_R.c.pool_id == pool.id, _R.c.state == "live")
        ).scalar()
        wait = (soonest - now).total_seconds() if soonest is not None else 1.0
        return Refusal(pool_name, max(1, math.ceil(wait)))
    did, e164 = chosen
    interaction = Interaction(
        id="ix_" + secrets.token_hex(12),
        pool=pool_name,
        did=did,
        e164=e164,
        caller=caller,
        customer_phone=customer_phone,
        customer_crm_id=customer_crm_id,
        context=context,
        state="live",
        created_at=now,
        expires_at=now + timedelta(seconds=pool.hold_seconds),
        key_id=key_id,
    )
    conn.execute(
        insert(_R).values(
            id=interaction.id,
            pool_id=pool.id,
            did=did,
            caller=caller,
            hold=_hold(did, caller),
            customer_phone=customer_phone,
            customer_crm_id=customer_crm_id,
            context=context,
            key_id=key_id,
            state="live",
            created_at=now,
            expires_at=interaction.expires_at,
        )
    )
    conn.execute(update(access_numbers).where(access_numbers.c.did == did).values(last_used_at=now))
    return interaction


def _choose(conn: Connection, pool_id: int, caller: str | None) -> tuple[str, str] | None:
    """The DID to reserve (and its E.164), or None when the rules leave none."""
    holds: dict[str, set[str | None]] = defaultdict(set)
    for row in conn.execute(
        select(_R.c.did, _R.c.caller).where(_R.c.pool_id == pool_id, _R.c.state == "live")
    ):
        holds[row.did].add(row.caller)
    numbers = conn.execute(
        select(access_numbers.c.did, access_numbers.c.e164)
        .where(access_numbers.c.pool_id == pool_id)
        .order_by(access_numbers.c.last_used_at.asc().nulls_first(), access_numbers.c.did)
    ).all()
    for row in numbers:  # free numbers first, least recently used first
        if not holds.get(row.did):
            return row.did, row.e164
    if caller is None:
        return None
    shareable = [  # then numbers held only for other, known callers: the least held first
        (len(holds[row.did]), position, row.did, row.e164)
        for position, row in enumerate(numbers)
        if None not in holds[row.did] and caller not in holds[row.did]
    ]
    return min(shareable)[2:] if shareable else None


def _interaction(row: Row[Any], pool: str, e164: str) -> Interaction:
    return Interaction(
        id=row.id,
        pool=pool,
        did=row.did,
        e164=e164,
        caller=row.caller,
        customer_phone=row.customer_phone,
        customer_crm_id=row.customer_crm_id,
        context=dict(row.context),
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        call_id=row.call_id,
        key_id=row.key_id,
    )


def _joined() -> Any:
    return (
        select(_R, access_pools.c.name.label("pool_name"), access_numbers.c.e164)
        .join(access_pools, access_pools.c.id == _R.c.pool_id)
        .outerjoin(access_numbers, access_numbers.c.did == _R.c.did)
    )


def get_interaction(conn: Connection, interaction_id: str, now: datetime) -> Interaction | None:
    """One interaction (a live one past its expiry reads as expired), or None."""
    row = conn.execute(_joined().where(_R.c.id == interaction_id)).first()
    if row is None:
        return None
    found = _interaction(row, row.pool_name, row.e164 or "")
    if found.state == "live" and found.expires_at <= now:
        return _replace_state(found, "expired", found.expires_at)
    return found


def _replace_state(found: Interaction, state: Any, at: datetime) -> Interaction:
    return replace(found, state=state, ended_at=at)


def live_interactions(conn: Connection, now: datetime) -> list[Interaction]:
    """Every live, unexpired reservation (what the read path's index holds)."""
    query = _joined().where(_R.c.state == "live", _R.c.expires_at > now)
    return [_interaction(r, r.pool_name, r.e164 or "") for r in conn.execute(query)]


def end_reservation(conn: Connection, interaction_id: str, state: str, now: datetime) -> bool:
    """End a live reservation as ``state`` (cancelled, expired); False if it was not live."""
    result = conn.execute(
        update(_R)
        .where(_R.c.id == interaction_id, _R.c.state == "live")
        .values(state=state, hold=None, ended_at=now)
    )
    return result.rowcount == 1


def consume(conn: Connection, interaction_id: str, call_id: str, now: datetime) -> bool:
    """Mark a live reservation matched by ``call_id``; False if it was no longer live."""
    result = conn.execute(
        update(_R)
        .where(_R.c.id == interaction_id, _R.c.state == "live")
        .values(state="matched", hold=None, ended_at=now, call_id=call_id[:255])
    )
    return result.rowcount == 1


def expire_due(conn: Connection, now: datetime) -> int:
    """Expire every live reservation past its time; return how many."""
    result = conn.execute(
        update(_R)
        .where(_R.c.state == "live", _R.c.expires_at <= now)
        .values(state="expired", hold=None, ended_at=_R.c.expires_at)
    )
    return int(result.rowcount)


def pool_status(conn: Connection, now: datetime) -> list[PoolStatus]:
    """Every pool's numbers now, its counts since midnight UTC and its last 24 hours."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    out = []
    for pool in pools(conn):
        live = (
            conn.execute(
                select(_R.c.did).where(
                    _R.c.pool_id == pool.id, _R.c.state == "live", _R.c.expires_at > now
                )
            )
            .scalars()
            .all()
        )
        hours = {since + timedelta(hours=i): [0, 0, 0, 0] for i in range(24)}
        rows = conn.execute(
            select(_R.c.created_at, _R.c.state, _R.c.ended_at).where(
                _R.c.pool_id == pool.id, _R.c.created_at >= since
            )
        )
        today = {"matched": 0, "expired": 0}
        for r in rows:
            hours[r.created_at.replace(minute=0, second=0, microsecond=0)][0] += 1
            state = r.state
            if state in ("matched", "expired") and r.ended_at is not None:
                bucket = r.ended_at.replace(minute=0, second=0, microsecond=0)
                if bucket in hours:
                    hours[bucket][1 if state == "matched" else 2] += 1
                if r.ended_at >= midnight:
                    today[state] += 1
        refused = conn.execute(
            select(access_refusals.c.at).where(
                access_refusals.c.pool_id == pool.id, access_refusals.c.at >= since
            )
        ).scalars()
        refused_today = 0
        for at in refused:
            hours[at.replace(minute=0, second=0, microsecond=0)][3] += 1
            refused_today += at >= midnight
        out.append(
            PoolStatus(
                pool=pool.name,
                numbers=len(pool.numbers),
                free=len({n.did for n in pool.numbers} - set(live)),
                reserved=len(live),
                matched_today=today["matched"],
                expired_today=today["expired"],
                refused_today=refused_today,
                hours=[
                    {
                        "hour": h.isoformat(),
                        "reserved": c[0],
                        "matched": c[1],
                        "expired": c[2],
                        "refused": c[3],
                    }
                    for h, c in hours.items()
                ],
            )
        )
    return out
