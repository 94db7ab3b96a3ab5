"""The demo's access numbers: after `cti demo`'s seeding, the call-us pool holds the two lab DIDs
(routed to Sales in the DID map), the example page's settings carry a key that reserves from it,
and a second start issues a new key and revokes the first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from cti.access_numbers.errors import KeyRejected
from cti.access_numbers.service import AccessNumbers, ReservationRequest
from cti.config import load_settings
from cti.demo import seed
from cti.demo.access import DEMO_ACCESS_DIDS, DEMO_POOL, with_call_us
from cti.demo.run import ready_lines
from cti.store import Store


def test_the_demo_pools_two_lab_dids_and_hands_the_example_page_a_working_key(
    tmp_path: Path,
) -> None:
    settings = load_settings(None, store={"url": f"sqlite:///{tmp_path / 'demo.sqlite3'}"})
    seed(settings)
    first = with_call_us(settings)
    again = with_call_us(settings)  # the next `cti demo`
    assert first.examples.call_us_pool == DEMO_POOL
    assert first.examples.call_us_key is not None and again.examples.call_us_key is not None
    asyncio.run(_check(settings.store.url, first.examples.call_us_key, again.examples.call_us_key))


async def _check(url: str, first: SecretStr, again: SecretStr) -> None:
    store = Store(url)
    access = AccessNumbers(store, default_region="GB")
    try:
        sales = store.get_group("Sales")
        assert sales is not None and set(DEMO_ACCESS_DIDS) <= set(sales.spec.dids)
        [pool] = await access.pools()
        assert pool.name == DEMO_POOL and [n.did for n in pool.numbers] == list(DEMO_ACCESS_DIDS)
        wanted = ReservationRequest(None, "+442079460001", None, "+442079460001", {})
        got = await access.reserve_request(again.get_secret_value(), wanted)
        assert got.did in DEMO_ACCESS_DIDS
        with pytest.raises(KeyRejected):
            await access.reserve_request(first.get_secret_value(), wanted)
        assert [k.active for k in await access.keys()] == [False, True]
    finally:
        await access.close()
        store.close()


def test_the_demo_says_where_the_example_page_is() -> None:
    lines = "\n".join(ready_lines(8080, simulated=True))
    assert "http://127.0.0.1:8080/examples/call-us" in lines
    assert "cti lab call --did" in lines
