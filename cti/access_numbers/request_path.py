"""One reservation request of a company's backend, in one transaction: the key, its rate, the
scope, the reservation and the audit event.

Why one: the request's work is a dozen short statements, and on PostgreSQL each transaction
adds its own round trips (connection check, ``BEGIN``, ``COMMIT``); doing the key lookup, the
reservation and the audit as three transactions cost a third more round trips for nothing.
Refusals are outcomes, not exceptions, inside the transaction, so the audit event and the
rate count commit with them.

Locks are taken in one order by every request: the pool's row, then the key's rate window, so
two requests of one key for two pools cannot wait on each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from cti.access_numbers import keys as key_rows
from cti.access_numbers import rows
from cti.access_numbers.errors import KeyRejected, OutOfScope, PoolExhausted
from cti.access_numbers.values import ApiKeyInfo, Interaction, Refusal
from cti.errors import CtiError
from cti.store.audit import append_event

__all__ = ["Outcome", "handle_reservation", "pool_of", "scope_refusal"]

Outcome = Interaction | Refusal | CtiError


def pool_of(key: ApiKeyInfo, named: str | None) -> str | None:
    """The pool a request reserves from: the one it names, else the key's only pool."""
    return named or (key.pools[0] if len(key.pools) == 1 else None)


def scope_refusal(key: ApiKeyInfo, pool: str | None) -> OutOfScope:
    return OutOfScope(
        "this key may not reserve from that pool" if pool else "name the pool",
        details={"field": "pool", "pools": list(key.pools)},
    )


def handle_reservation(
    conn: Connection,
    key: str,
    wanted: Any,
    now: datetime,
) -> tuple[ApiKeyInfo | None, Outcome]:
    """Run one request on ``conn`` and audit it; ``wanted`` is the validated
    :class:`~cti.access_numbers.service.ReservationRequest`, or the error reading its body
    raised (413, 422: refused after the key and its rate, as the API documents)."""
    found = key_rows.find_key(conn, key, now)
    if found is None:
        outcome: Outcome = KeyRejected("a valid API key is required (Authorization: Bearer <key>)")
    else:
        outcome = _with_key(conn, found, wanted, now)
    append_event(conn, "access.api", _details(found, wanted, outcome), None, now)
    return found, outcome


def _with_key(conn: Connection, key: ApiKeyInfo, wanted: Any, now: datetime) -> Outcome:
    pool = None if isinstance(wanted, CtiError) else pool_of(key, wanted.pool)
    locked: Row[Any] | CtiError | None = None
    if pool is not None and pool in key.pools:
        try:
            locked = rows.lock_pool(conn, pool)
        except CtiError as exc:  # NotFound: counted against the rate all the same
            locked = exc
    try:
        key_rows.spend(conn, key.id, key.per_minute, now)
    except CtiError as exc:  # RateLimited, its count already taken back
        return exc
    if isinstance(wanted, CtiError):
        return wanted
    if locked is None:
        return scope_refusal(key, pool)
    if isinstance(locked, CtiError):
        return locked
    return rows.reserve(
        conn,
        locked.name,
        caller=wanted.caller,
        customer_phone=wanted.customer_phone,
        customer_crm_id=wanted.customer_crm_id,
        context=wanted.context,
        key_id=key.id,
        now=now,
        locked=locked,
    )


def _details(key: ApiKeyInfo | None, wanted: Any, outcome: Outcome) -> dict[str, Any]:
    details: dict[str, Any] = {"key": key.prefix if key else None, "what": "reserve"}
    if isinstance(outcome, Interaction):
        return {**details, "outcome": "granted", "pool": outcome.pool, "interaction": outcome.id}
    if isinstance(outcome, Refusal):
        return {**details, "outcome": PoolExhausted.error_id, "pool": outcome.pool}
    details["outcome"] = outcome.error_id
    if "field" in outcome.details:
        details["field"] = outcome.details["field"]
    if not isinstance(wanted, CtiError) and key is not None:
        details["pool"] = pool_of(key, wanted.pool)
    return details
