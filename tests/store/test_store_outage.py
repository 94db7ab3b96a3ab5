"""The store goes away (PostgreSQL restarts) while the writer runs: nothing is lost or crashed.

PostgreSQL is reached through a TCP relay the test can cut: cutting it refuses new connections
and aborts the open ones, which is what a client sees while the server restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url

from cti.errors import StoreUnavailable
from cti.store import OutboxWriter, RetryPolicy, Store
from tests.conftest import PG_HOST, PG_PORT
from tests.store.conftest import FAST_HASHER
from tests.store.fakes import FakeClock, MemoryCrm, eventually, record

pytestmark = pytest.mark.postgres

CALL = "lab:1700000000.1"


class Relay:
    """A TCP relay on a fixed loopback port that can be cut and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio (3.11) logs an error for a connection handler that ends cancelled; the relay's
        # handlers end quietly instead, the connection simply closes.
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._relay(reader, writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers |= {writer, up_writer}
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            for each in (writer, up_writer):
                each.transport.abort()
                self._writers.discard(each)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    relay = Relay((PG_HOST, PG_PORT))
    await relay.restore()
    yield relay
    if relay._server is not None:
        await relay.cut()


@pytest.fixture
def relayed_store(migrated_postgres_url: str, relay: Relay, clock: FakeClock) -> Store:
    url = make_url(migrated_postgres_url).set(port=relay.port)
    return Store(url, password_hasher=FAST_HASHER, clock=clock.now, connect_timeout=1)


async def test_writer_survives_the_store_going_away(
    relayed_store: Store, relay: Relay, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = relayed_store
    crm = MemoryCrm("builtin", clock=clock.now)
    await store.aio.run(store.end_call, record(CALL), ["builtin"])
    await relay.cut()
    writer = OutboxWriter(
        store.aio,
        {"builtin": crm},
        clock=clock,
        store_policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
    )

    try:
        with caplog.at_level(logging.WARNING, logger="cti.store.outbox"):
            async with writer:
                await eventually(lambda: writer.stats.store_errors_total >= 3)
                assert writer.running
                assert not writer.stats.store_available
                assert crm.attempts == []
                with pytest.raises(StoreUnavailable):
                    await store.aio.run(store.end_call, record("lab:2"), ["builtin"])

                await relay.restore()  # the server is back
                await eventually(lambda: CALL in crm.calls and writer.stats.store_available)
                await store.aio.run(store.end_call, record("lab:3"), ["builtin"])
                await eventually(lambda: "lab:3" in crm.calls)
    finally:
        await asyncio.to_thread(store.close)

    assert list(crm.calls) == [CALL, "lab:3"]
    unavailable = [r for r in caplog.records if "store unavailable" in r.getMessage()]
    assert len(unavailable) == 1  # said once, not once per retry


async def test_the_pool_recovers_after_connections_were_cut(
    relayed_store: Store, relay: Relay
) -> None:
    store = relayed_store
    try:
        await store.aio.run(store.create_agent, "alice", endpoints=["PJSIP/1001"])
        await relay.cut()
        with pytest.raises(StoreUnavailable):
            await store.aio.run(store.endpoint_owners)
        await relay.restore()
        assert await store.aio.run(store.endpoint_owners) == {"PJSIP/1001": "alice"}
    finally:
        await asyncio.to_thread(store.close)
