"""The demo's access numbers: a pool of two lab DIDs and an API key for ``/examples/call-us``.

The lab dialplan's direct DIDs 442079461001 and 442079461002 ring alice's and bob's phones
(asterisk-config/extensions.conf, ``_4420794610XX``), so the demo routes them to the Sales group
in the DID map and pools them as ``call-us``. An API key is stored only as a digest, so a key of
an earlier run cannot be read back: each run revokes the demo's earlier keys and issues a new one,
which the demo hands to the example page's backend as ``[examples] call_us_key``.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pydantic import SecretStr

from cti.access_numbers.service import AccessNumbers
from cti.access_numbers.values import AccessNumber, PoolSpec
from cti.config import Settings
from cti.store import Store

__all__ = ["DEMO_ACCESS_DIDS", "DEMO_POOL", "seed_call_us", "with_call_us"]

DEMO_POOL = "call-us"
DEMO_ACCESS_DIDS = ("442079461001", "442079461002")
_GROUP = "Sales"
_KEY_NAME = "demo: call-us page"


def _route(store: Store) -> None:
    """Add the pool's DIDs to Sales in the DID map (a demo store seeded before they were)."""
    group = store.get_group(_GROUP)
    if group is None:
        return
    missing = tuple(did for did in DEMO_ACCESS_DIDS if did not in group.spec.dids)
    if missing:
        store.update_group(_GROUP, replace(group.spec, dids=(*group.spec.dids, *missing)))


async def _pool_and_key(store: Store) -> str:
    access = AccessNumbers(store, default_region="GB")
    try:
        if not any(pool.name == DEMO_POOL for pool in await access.pools()):
            numbers = tuple(AccessNumber(did, "+" + did) for did in DEMO_ACCESS_DIDS)
            spec = PoolSpec(DEMO_POOL, numbers, purpose="The example call-us page", group=_GROUP)
            await access.create_pool(spec, "demo")
        for old in await access.keys():
            if old.name == _KEY_NAME and old.active:
                await access.revoke_key(old.id, "demo")
        _, key = await access.issue_key(_KEY_NAME, [DEMO_POOL], 60, "demo")
    finally:
        await access.close()
    return key


def seed_call_us(store_url: str) -> str:
    """Route and pool the demo's access numbers where missing; return a new API key for them.

    Run after :func:`cti.demo.seed` (which creates Sales and upgrades the store)."""
    store = Store(store_url)
    try:
        _route(store)
        return asyncio.run(_pool_and_key(store))
    finally:
        store.close()


def with_call_us(settings: Settings) -> Settings:
    """``settings`` with ``[examples]`` holding a new key of the demo's pool (seeded first)."""
    key = seed_call_us(settings.store.url)
    examples = settings.examples.model_copy(
        update={"call_us_key": SecretStr(key), "call_us_pool": DEMO_POOL}
    )
    return settings.model_copy(update={"examples": examples})
