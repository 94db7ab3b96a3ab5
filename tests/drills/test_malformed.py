"""Drill 5: 100,000 malformed AMI frames among valid ones, over a real socket (sip_tests.drill)."""

from __future__ import annotations

import pytest

from sip_tests.drill.malformed import run_malformed

pytestmark = pytest.mark.drill


async def test_malformed_frames_neither_crash_nor_reorder_nor_grow_memory() -> None:
    result = await run_malformed(100_000, calls=300)
    print(result)
    assert result.malformed == 100_000
    assert result.connects == 1 and result.disconnects == 0, "the connection must survive"
    assert result.sink_errors == 0
    assert result.delivered_events == result.expected_events
    assert result.in_order, "valid events must come out as they went in, in order"
    assert result.max_rss_growth_kib < 256 * 1024, "memory must stay bounded"
