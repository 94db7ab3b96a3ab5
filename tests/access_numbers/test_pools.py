"""Pools take only numbers the DID map routes, and a group that exists; a refused change
stores nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from cti.access_numbers.service import AccessNumbers
from cti.errors import Conflict, ValidationFailed
from cti.store import Store
from tests.access_numbers.conftest import DIDS, pool_spec

UNROUTED = "442079469999"


def events(store: Store, kind: str) -> int:
    return len(store.events(kind=kind, limit=100))


async def test_a_pool_with_a_number_the_did_map_does_not_route_is_refused(
    access: AccessNumbers, store: Store
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await access.create_pool(pool_spec("new", ("442079461010", UNROUTED)), "admin")
    assert refused.value.status == 422
    assert refused.value.details == {"field": "numbers", "unrouted": [UNROUTED]}
    assert [p.name for p in await access.pools()] == ["web"]
    assert events(store, "access.create_pool") == 1  # the fixture's pool only


async def test_an_update_adding_an_unrouted_number_changes_nothing(access: AccessNumbers) -> None:
    with pytest.raises(ValidationFailed):
        await access.update_pool("web", pool_spec("web", (*DIDS, UNROUTED)), "admin")
    [pool] = await access.pools()
    assert sorted(n.did for n in pool.numbers) == sorted(DIDS)


async def test_the_group_must_exist_and_a_number_belongs_to_one_pool(
    access: AccessNumbers,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await access.create_pool(pool_spec("new", ("442079461010",), group="Nope"), "admin")
    assert refused.value.details["field"] == "group"
    await access.create_pool(pool_spec("new", ("442079461010",), group="Web"), "admin")
    with pytest.raises(Conflict):
        await access.create_pool(pool_spec("again", (DIDS[0],)), "admin")
    assert sorted(p.name for p in await access.pools()) == ["new", "web"]
