"""The API key's rate limit is kept in the store, so two service instances with engines of their
own (as two daemon processes are) share it, on SQLite and PostgreSQL; the window slides."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cti.access_numbers.service import AccessNumbers
from cti.errors import RateLimited
from cti.store import Store
from tests.access_numbers.conftest import Clock


@pytest.fixture
async def twin(access_store_url: str, clock: Clock) -> AsyncIterator[AccessNumbers]:
    """A second service on the same store through an engine of its own."""
    store = Store(access_store_url, clock=clock)
    service = AccessNumbers(store, default_region="GB", clock=clock)
    yield service
    await service.close()
    store.close()


async def granted(services: list[AccessNumbers], key: str, count: int) -> int:
    done = 0
    for n in range(count):
        try:
            await services[n % len(services)].authenticate(key, "get")
        except RateLimited:
            continue
        done += 1
    return done


async def test_two_instances_share_one_key_s_rate_and_the_window_slides(
    access: AccessNumbers, twin: AccessNumbers, clock: Clock
) -> None:
    _, key = await access.issue_key("shop", ["web"], 10, "admin")
    both = [access, twin]
    assert await granted(both, key, 20) == 10  # not 10 each
    with pytest.raises(RateLimited) as limited:
        await twin.authenticate(key, "get")
    assert limited.value.details["retry_after_s"] == 66.0  # the next minute, as it slides 6 s
    clock.advance(60)  # the previous minute still weighs fully
    assert await granted(both, key, 5) == 0
    clock.advance(30)  # half of it now: 5 of the 10 are back
    assert await granted(both, key, 20) == 5
    clock.advance(60)
    assert await access.sweep() == 0
    with access._store.reading("test") as conn:  # old minutes pruned
        left = conn.exec_driver_sql("SELECT count(*) FROM access_key_windows").scalar_one()
    assert left <= 2
