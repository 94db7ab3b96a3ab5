"""The access-number service: companies' backends reserve numbers, calls consume them.

Every store operation runs on the store's threads (``store.aio``); the read path's
:meth:`AccessNumbers.match_call` answers from the in-memory :class:`LiveIndex`, refreshed
from the store every ``refresh_s`` (so reservations made by another daemon process match too),
and hands the store write to a task it owns. A sweeper expires reservations past their time.
Every use of the API, granted or refused, is an ``access.api`` event in the store's history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from cti.access_numbers import keys as key_rows
from cti.access_numbers import rows
from cti.access_numbers.errors import KeyRejected, OutOfScope, PoolExhausted
from cti.access_numbers.index import LiveIndex
from cti.access_numbers.values import ApiKeyInfo, Interaction, Pool, PoolSpec, PoolStatus, Refusal
from cti.errors import CtiError, NotFound, RateLimited
from cti.numbers import RegionSource, region_source, to_e164
from cti.pop.interactions import ReservationMatch
from cti.store import Store
from cti.store.audit import append_event

__all__ = ["AccessNumbers", "ReservationRequest"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    """A validated request of a company's backend (the web edge validates the JSON)."""

    pool: str | None  # None: the key's only pool
    customer_phone: str | None  # E.164
    customer_crm_id: str | None
    caller: str | None  # E.164; None: unknown
    context: dict[str, Any]


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.reserved = Counter("cti_access_reserved", "Numbers reserved", ["pool"], registry=r)
        self.matched = Counter("cti_access_matched", "Calls matched", ["pool"], registry=r)
        self.expired = Counter("cti_access_expired", "Reservations expired", registry=r)
        self.exhausted = Counter(
            "cti_access_exhausted", "Reservations refused: pool exhausted", ["pool"], registry=r
        )
        self.to_call = Histogram(
            "cti_access_reservation_to_call_seconds",
            "Time from reservation to the matching call",
            buckets=(5, 10, 20, 30, 60, 90, 120, 300, 600),
            registry=r,
        )


def template_interaction(found: Interaction, now: datetime) -> dict[str, object]:
    """What a pop template sees of a matched interaction."""
    context = found.context

    def text(key: str) -> str:
        value = context.get(key)
        return value if isinstance(value, str) else ""

    return {
        "id": found.id,
        "pool": found.pool,
        "who": text("who") or found.customer_crm_id or found.customer_phone or "",
        "page": text("page"),
        "order": text("order"),
        "intent": text("intent"),
        "customer_phone": found.customer_phone or "",
        "customer_crm_id": found.customer_crm_id or "",
        "context": context,
        "reserved_at": found.created_at.isoformat(),
        "waited_s": round((now - found.created_at).total_seconds()),
    }


class AccessNumbers:
    """Pools, keys, reservations and matching; see the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        default_region: str | RegionSource,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = _utc_now,
        refresh_s: float = 1.0,
        sweep_s: float = 5.0,
    ) -> None:
        self._store = store
        self._regions = region_source(default_region)  # read at each use: admins may change it
        self._clock = clock
        self._refresh_s, self._sweep_s = refresh_s, sweep_s
        self.index = LiveIndex()
        self.metrics = _Metrics(registry)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.refresh()
        self._loop_task = asyncio.create_task(self._refresh_forever(), name="access-numbers")

    async def close(self) -> None:
        """Stop refreshing; give the matches being written up to 5 s to reach the store."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.wait([self._loop_task])
            self._loop_task = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    async def refresh(self) -> None:
        """Load the live reservations and the pools' DIDs into the read path's index."""
        live, pools = await self._store.aio.run(self._load)
        self.index.replace(live, (n.did for p in pools for n in p.numbers))

    def _load(self) -> tuple[list[Interaction], list[Pool]]:
        with self._store.reading("access.load") as conn:
            return rows.live_interactions(conn, self._clock()), rows.pools(conn)

    async def _refresh_forever(self) -> None:
        since_sweep = 0.0
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                since_sweep += self._refresh_s
                if since_sweep >= self._sweep_s:
                    since_sweep = 0.0
                    await self.sweep()
                await self.refresh()
            except CtiError as exc:
                log.warning("access numbers: refresh failed: %s", exc)

    async def sweep(self) -> int:
        """Expire reservations past their time; return how many."""
        expired = int(await self._store.aio.run(self._write, rows.expire_due))
        await self._store.aio.run(self._write, key_rows.prune_windows)
        self.metrics.expired.inc(expired)
        return expired

    def _write(self, operation: Callable[..., Any], *args: Any) -> Any:
        with self._store.writing("access." + operation.__name__) as conn:
            return operation(conn, *args, self._clock())

    # ------------------------------------------------------------------ the API
    async def authenticate(self, key: str | None, what: str) -> ApiKeyInfo:
        """The active key ``key`` is, after its rate limit; KeyRejected or RateLimited (both
        audited)."""
        found, limited = await self._store.aio.run(self._find_key, key or "")
        if found is None:
            await self.audit(None, what, KeyRejected.error_id)
            raise KeyRejected("a valid API key is required (Authorization: Bearer <key>)")
        if limited is not None:
            await self.audit(found, what, limited.error_id)
            raise limited
        return found

    def _find_key(self, key: str) -> tuple[ApiKeyInfo | None, RateLimited | None]:
        """The key (stamped as used) and, past its rate, the refusal; one transaction."""
        now = self._clock()
        with self._store.writing("access.find_key") as conn:
            found = key_rows.find_key(conn, key, now)
            if found is None:
                return None, None
            try:
                key_rows.spend(conn, found.id, found.per_minute, now)
            except RateLimited as exc:
                return found, exc
            return found, None

    async def audit(self, key: ApiKeyInfo | None, what: str, outcome: str, **more: Any) -> None:
        """Record one use of the API (who, what, how it ended)."""
        details = {"key": key.prefix if key else None, "what": what, "outcome": outcome, **more}
        await self._store.aio.run(self._store.record_event, "access.api", details)

    async def reserve_request(
        self, key: str | None, wanted: ReservationRequest | CtiError
    ) -> Interaction:
        """Serve one ``POST /api/v1/interactions``: the key and its rate, then the body (``wanted``
        is the validated body or the 413/422 reading it raised, refused only after the key), then
        the reservation. Every refusal is audited.

        Two short transactions, not one: the key's row and its rate window are locked by every
        request of that key, the pool's row by every request of that pool; kept apart, one
        request's reservation overlaps the next one's key check. One transaction holding both
        ran 2-3x slower with 16 requests in flight on one key (docs/performance.md).
        """
        found = await self.authenticate(key, "reserve")
        if isinstance(wanted, CtiError):
            await self.audit(found, "reserve", wanted.error_id, field=wanted.details.get("field"))
            raise wanted
        return await self.reserve(found, wanted)

    def _granted(self, outcome: Interaction | Refusal | CtiError) -> Interaction:
        if isinstance(outcome, CtiError):
            raise outcome
        if isinstance(outcome, Refusal):
            self.metrics.exhausted.labels(outcome.pool).inc()
            raise PoolExhausted(
                "every number of the pool is reserved; try again later",
                details={"pool": outcome.pool, "retry_after_s": outcome.retry_after_s},
            )
        self.metrics.reserved.labels(outcome.pool).inc()
        self.index.add(outcome)
        return outcome

    async def reserve(self, key: ApiKeyInfo, request: ReservationRequest) -> Interaction:
        """Reserve for a key already authenticated; OutOfScope, NotFound or PoolExhausted."""
        pool = request.pool or (key.pools[0] if len(key.pools) == 1 else None)
        if pool is None or pool not in key.pools:
            await self.audit(key, "reserve", OutOfScope.error_id, pool=pool)
            raise OutOfScope(
                "this key may not reserve from that pool" if pool else "name the pool",
                details={"field": "pool", "pools": list(key.pools)},
            )
        return self._granted(await self._store.aio.run(self._reserve, key, pool, request))

    def _reserve(
        self, key: ApiKeyInfo, pool: str, request: ReservationRequest
    ) -> Interaction | Refusal:
        now = self._clock()
        with self._store.writing("access.reserve") as conn:
            result = rows.reserve(
                conn,
                pool,
                caller=request.caller,
                customer_phone=request.customer_phone,
                customer_crm_id=request.customer_crm_id,
                context=request.context,
                key_id=key.id,
                now=now,
            )
            granted = isinstance(result, Interaction)
            details = {
                "key": key.prefix,
                "what": "reserve",
                "outcome": "granted" if granted else PoolExhausted.error_id,
                "pool": pool,
                "interaction": result.id if isinstance(result, Interaction) else None,
            }
            append_event(conn, "access.api", details, None, now)
        return result

    async def interaction(self, key: ApiKeyInfo, interaction_id: str) -> Interaction:
        """One of the key's interactions; NotFound for others' (not to leak they exist)."""
        found = await self._store.aio.run(self._get, interaction_id)
        if found is None or found.key_id != key.id:
            await self.audit(key, "get", NotFound.error_id, interaction=interaction_id[:40])
            raise NotFound("no such interaction", details={"field": "id"})
        await self.audit(key, "get", "ok", interaction=found.id)
        return found

    def _get(self, interaction_id: str) -> Interaction | None:
        with self._store.reading("access.get") as conn:
            return rows.get_interaction(conn, interaction_id, self._clock())

    async def cancel(self, key: ApiKeyInfo, interaction_id: str) -> Interaction:
        """Cancel a live reservation (its number frees at once); an ended one is left alone."""
        found = await self.interaction(key, interaction_id)
        if found.state == "live":
            await self._store.aio.run(self._write, _cancel, found.id)
            self.index.remove(found.id, found.did)
            await self.audit(key, "cancel", "ok", interaction=found.id)
            return await self.interaction(key, interaction_id)
        return found

    # ------------------------------------------------------------------ the read path
    def match_call(self, did: str, caller: str, call_id: str) -> ReservationMatch | None:
        if did not in self.index.pool_dids:
            return None
        now = self._clock()
        found = self.index.match(did, to_e164(caller, self._regions.default_region()), now)
        if found is None:
            return ReservationMatch("none")
        self.metrics.matched.labels(found.pool).inc()
        self.metrics.to_call.observe(max(0.0, (now - found.created_at).total_seconds()))
        task = asyncio.get_running_loop().create_task(
            self._consume(found, call_id), name=f"access consume {found.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ReservationMatch("matched", found.id, template_interaction(found, now))

    async def _consume(self, found: Interaction, call_id: str) -> None:
        try:
            await self._store.aio.run(self._write, _consume_as(call_id), found.id)
        except CtiError as exc:  # the reservation then expires on its own
            log.warning("access numbers: could not mark %s matched: %s", found.id, exc)

    # ------------------------------------------------------------------ the admin console
    async def pools(self) -> list[Pool]:
        return await self._store.aio.run(self._read, rows.pools)

    def _read(self, operation: Callable[..., Any], *args: Any) -> Any:
        with self._store.reading("access." + operation.__name__) as conn:
            return operation(conn, *args)

    async def create_pool(self, spec: PoolSpec, actor: str) -> None:
        await self._store.aio.run(self._admin, "create_pool", actor, spec)

    async def update_pool(self, name: str, spec: PoolSpec, actor: str) -> None:
        await self._store.aio.run(self._admin, "update_pool", actor, name, spec)

    async def delete_pool(self, name: str, actor: str) -> None:
        await self._store.aio.run(self._admin, "delete_pool", actor, name)

    def _admin(self, what: str, actor: str, *args: Any) -> None:
        now = self._clock()
        with self._store.writing("access." + what) as conn:
            if what == "create_pool":
                rows.create_pool(conn, args[0], now)
            elif what == "update_pool":
                rows.update_pool(conn, args[0], args[1])
            else:
                rows.delete_pool(conn, args[0])
            name = args[0] if isinstance(args[0], str) else args[0].name
            append_event(conn, "access." + what, {"pool": name}, actor, now)

    async def status(self) -> list[PoolStatus]:
        return await self._store.aio.run(self._status)

    def _status(self) -> list[PoolStatus]:
        with self._store.reading("access.status") as conn:
            return rows.pool_status(conn, self._clock())

    async def keys(self) -> list[ApiKeyInfo]:
        return await self._store.aio.run(self._read, key_rows.keys)

    async def issue_key(
        self, name: str, pools: list[str], per_minute: int, actor: str
    ) -> tuple[ApiKeyInfo, str]:
        """A new key (returned once) for ``pools``; audited without the key."""
        return await self._store.aio.run(self._issue, name, pools, per_minute, actor)

    def _issue(
        self, name: str, pools: list[str], per_minute: int, actor: str
    ) -> tuple[ApiKeyInfo, str]:
        now = self._clock()
        with self._store.writing("access.issue_key") as conn:
            info, key = key_rows.issue_key(
                conn, name, pools, per_minute=per_minute, actor=actor, now=now
            )
            details = {"id": info.id, "name": name, "prefix": info.prefix, "pools": pools}
            append_event(conn, "access.key_issued", details, actor, now)
        return info, key

    async def revoke_key(self, key_id: int, actor: str) -> ApiKeyInfo:
        return await self._store.aio.run(self._revoke, key_id, actor)

    def _revoke(self, key_id: int, actor: str) -> ApiKeyInfo:
        now = self._clock()
        with self._store.writing("access.revoke_key") as conn:
            info = key_rows.revoke_key(conn, key_id, now)
            append_event(
                conn, "access.key_revoked", {"id": key_id, "prefix": info.prefix}, actor, now
            )
        return info


def _cancel(conn: Any, interaction_id: str, now: datetime) -> bool:
    return rows.end_reservation(conn, interaction_id, "cancelled", now)


def _consume_as(call_id: str) -> Callable[[Any, str, datetime], bool]:
    def consume(conn: Any, interaction_id: str, now: datetime) -> bool:
        return rows.consume(conn, interaction_id, call_id, now)

    return consume
