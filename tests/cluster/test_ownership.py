"""AMI ownership on a real Redis: one owner at a time, take-over after a kill within the lease,
hand-over at shutdown, and AMI actions from any node run on the owner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
from redis.asyncio import Redis

from broker_adapters.redis import BrokerKeys, connect
from broker_adapters.redis.lease import RedisLeases
from broker_adapters.redis.requests import RedisRequests
from broker_adapters.redis.server import RedisServer
from cti.cluster.actions import OwnedActions, answer
from cti.cluster.ownership import Ownership
from cti.errors import AmiActionFailed
from pbx_adapters.asterisk.frame import AmiFrame

TTL = 1.0


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []

    def hooks(self, node: str) -> tuple:
        async def gained(server: str) -> None:
            self.log.append(("gained", node, time.monotonic()))

        async def lost(server: str) -> None:
            self.log.append(("lost", node, time.monotonic()))

        return gained, lost


CLIENTS: list[Redis] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while CLIENTS:
        await CLIENTS.pop().aclose()


def client(url: str) -> Redis:
    CLIENTS.append(connect(url))
    return CLIENTS[-1]


def ownership(url: str, node: str, events: Events) -> Ownership:
    gained, lost = events.hooks(node)
    leases = RedisLeases(client(url), BrokerKeys("o"))
    return Ownership(leases, node, ["lab"], ttl_s=TTL, on_gained=gained, on_lost=lost)


async def test_one_owner_and_a_take_over_after_a_kill(redis_server: RedisServer) -> None:
    events = Events()
    a, b = ownership(redis_server.url, "a", events), ownership(redis_server.url, "b", events)
    await a.start()
    await b.start()
    assert a.owns("lab") and not b.owns("lab")
    assert b.owner_of("lab") == "a"
    assert a._task is not None
    a._task.cancel()  # as kill -9: no release, no more renewals
    killed = time.monotonic()
    async with asyncio.timeout(5):
        while not b.owns("lab"):  # noqa: ASYNC110  (b's own task takes it)
            await asyncio.sleep(0.05)
    took = time.monotonic() - killed
    print(f"take-over after {took:.2f} s (lease {TTL} s)")
    assert took < TTL * 2
    assert [e[:2] for e in events.log] == [("gained", "a"), ("gained", "b")]
    await b.close()


async def test_shutdown_hands_the_lease_over_at_once(redis_server: RedisServer) -> None:
    events = Events()
    a, b = ownership(redis_server.url, "a", events), ownership(redis_server.url, "b", events)
    await a.start()
    await b.start()
    await a.close()  # releases: b's next round takes it, well before the lease would expire
    await b.round()
    assert b.owns("lab")
    assert [e[:2] for e in events.log] == [("gained", "a"), ("lost", "a"), ("gained", "b")]
    await b.close()


class FakeAmi:
    """The owner's AMI connection: answers Ping, refuses anything else as Asterisk would."""

    def __init__(self) -> None:
        self.actions: list[list[tuple[str, str]]] = []

    async def send_action(
        self,
        action: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        timeout_s: float | None = None,
    ) -> AmiFrame:
        pairs = list(action.items()) if isinstance(action, Mapping) else list(action)
        self.actions.append(pairs)
        if dict(pairs).get("Action") != "Ping":
            raise AmiActionFailed("Originate failed", details={"action": "Originate"})
        return AmiFrame.of(Response="Success", Ping="Pong")


@pytest.mark.parametrize("refused", [False, True])
async def test_actions_from_another_node_run_on_the_owner(
    redis_server: RedisServer, refused: bool
) -> None:
    events, ami = Events(), FakeAmi()
    owner = ownership(redis_server.url, "a", events)
    other = ownership(redis_server.url, "b", events)
    await owner.start()
    await other.start()
    keys = BrokerKeys("o")
    served = RedisRequests(client(redis_server.url), keys, "a")
    asking = RedisRequests(client(redis_server.url), keys, "b")
    await served.start(lambda body: answer(body, owner, lambda server: ami))
    await asking.start(lambda body: answer(body, other, lambda server: FakeAmi()))
    try:
        actions = OwnedActions("lab", FakeAmi, other, asking, timeout_s=2)
        if refused:
            with pytest.raises(AmiActionFailed, match="Originate failed"):
                await actions.send_action({"Action": "Originate", "Channel": "PJSIP/1001"})
        else:
            reply = await actions.send_action({"Action": "Ping"})
            assert isinstance(reply, AmiFrame) and dict(reply)["Ping"] == "Pong"
        assert ami.actions[0][0] == ("Action", "Originate" if refused else "Ping")
    finally:
        await served.close()
        await asking.close()
        await owner.close()
        await other.close()
