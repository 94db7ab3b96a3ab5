"""The slim queue and flag each websocket connection holds (agent_ui.lean_sync)."""

from __future__ import annotations

import asyncio

import pytest

from agent_ui.lean_sync import Flag, Inbox


async def test_inbox_hands_items_over_in_order_and_waits_when_empty() -> None:
    inbox: Inbox[str] = Inbox()
    inbox.put_nowait("connect")
    assert not inbox.empty()
    assert await inbox.get() == "connect"
    assert inbox.empty()

    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert await waiting == "a"
    assert await inbox.get() == "b"


async def test_a_cancelled_get_leaves_the_inbox_usable() -> None:
    inbox: Inbox[int] = Inbox()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    inbox.put_nowait(1)
    assert await inbox.get() == 1


async def test_inbox_refuses_a_second_consumer() -> None:
    inbox: Inbox[int] = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    inbox.put_nowait(7)
    assert await first == 7


async def test_flag_wakes_every_waiter_on_set_and_waits_again_once_cleared() -> None:
    flag = Flag(is_set=True)
    assert await flag.wait()
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True, True]

    flag.clear()
    late = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    flag.set()  # the cancelled waiter is gone; nothing to wake
    assert flag.is_set()
