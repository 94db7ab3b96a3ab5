"""A migrated store on SQLite (and PostgreSQL, marked ``postgres``), an access-number service on
it with a clock the test moves, a group the DID map routes the test DIDs to, and one pool of
three of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cti.access_numbers.service import AccessNumbers
from cti.access_numbers.values import AccessNumber, PoolSpec
from cti.store import GroupSpec, Store

DIDS = ("442079461001", "442079461002", "442079461003")
ROUTED = (*DIDS, *(f"4420794610{n:02d}" for n in range(10, 20)))  # the DID map's "Web" group


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def pool_spec(name: str = "web", dids: tuple[str, ...] = DIDS, **more: object) -> PoolSpec:
    numbers = tuple(AccessNumber(did, "+" + did) for did in dids)
    return PoolSpec(name=name, numbers=numbers, **more)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def access_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(access_store_url: str, clock: Clock) -> Iterator[Store]:
    store = Store(access_store_url, clock=clock)
    store.upgrade()
    store.create_group(GroupSpec(name="Web", dids=ROUTED))
    yield store
    store.close()


@pytest.fixture
async def access(store: Store, clock: Clock) -> AsyncIterator[AccessNumbers]:
    service = AccessNumbers(store, default_region="GB", clock=clock)
    await service.create_pool(pool_spec(), "admin")
    await service.refresh()
    yield service
    await service.close()
