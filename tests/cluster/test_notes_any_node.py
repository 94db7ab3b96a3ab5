"""Notes and dispositions sent over the websocket, to a node that does not own the call's server.

Two nodes (``tests.cluster.two_nodes``): ``a`` owns the server ``lab`` and is fed a recorded lab
call that rings alice's phone; her tab is on ``b``. She writes notes and picks a disposition
there: ``b`` asks ``a`` whether the call was shown to her (``OwnedPops.was_shown``) and keeps
them in the shared store, from which ``a`` merges them into the call record it writes when the
call ends; the CRM receives that record once, with her notes and disposition. Before, ``b``
asked its own pop service, which never saw the call: an ``error`` frame "you can only write
notes on calls that rang or reached you", and nothing in the record. Bob, never shown the call,
is refused on both nodes. With no node answering for the server, alice gets an ``error`` frame
``cluster.owner_unreachable`` and nothing is kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from broker_adapters.redis.server import RedisServer
from cti.daemon import Daemon
from tests.cluster.two_nodes import lab_call, lose_owner, next_frame, ring, two_nodes
from tests.security.site import Site
from tests.store.fakes import eventually

pytestmark = pytest.mark.multinode

CALLER = "+442079460001"  # direct_answered: Ada Lovelace's call to alice's phone, PJSIP/1001
PREFIX = "notes-any-node"
NOTES = "Invoice 42 disputed; call back Friday"


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Site, Site]]:
    async with two_nodes(tmp_path, redis_server.url, PREFIX) as pair:
        yield pair


async def _send(ws: ClientConnection, kind: str, ref: str, data: dict[str, str]) -> dict[str, Any]:
    """Send a ``notes`` or ``disposition`` message; return the frame answering ``ref``."""
    await ws.send(json.dumps({"type": kind, "ref": ref, "data": data}))
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["data"].get("ref") == ref:
                return dict(frame)


def _hang_up(owner: Daemon) -> None:
    """Feed the owner the rest of the call :func:`ring` started: answered, then hung up."""
    for event in lab_call()[5:]:
        owner._on_event(event)


async def _history(site: Site, username: str, call_id: str) -> list[dict[str, Any]]:
    """The CRM's entries of ``call_id`` once the outbox delivered it (read on ``site``)."""
    cookie, csrf = await site.login(username)
    async with site.client(cookie, csrf) as client, asyncio.timeout(15):
        while True:
            reply = await client.get("/api/crm/history", params={"number": CALLER})
            assert reply.status_code == 200, reply.text
            found = [c for c in reply.json()["calls"] if c["call_id"] == call_id]
            if found:
                return found
            await asyncio.sleep(0.1)


async def test_alice_on_the_other_node_writes_notes_and_a_disposition_that_reach_the_record(
    nodes: tuple[Site, Site],
) -> None:
    a, b = nodes
    cookie, _ = await b.login("alice")
    async with b.socket(cookie) as ws:
        call_id = ring(a.daemon)
        await next_frame(ws, "pop", call_id)  # made on a, sent through the fan-out
        first = await _send(ws, "notes", "n1", {"call_id": call_id, "text": "Invoice 42"})
        assert first["type"] == "notes_saved", first
        saved = await _send(ws, "notes", "n2", {"call_id": call_id, "text": NOTES})
        assert saved["type"] == "notes_saved", saved
        assert saved["data"] == {"call_id": call_id, "length": len(NOTES), "ref": "n2"}
        picked = await _send(ws, "disposition", "d1", {"call_id": call_id, "value": "Follow-up"})
        assert picked["type"] == "disposition_saved", picked
        assert picked["data"] == {"call_id": call_id, "value": "Follow-up", "ref": "d1"}

        _hang_up(a.daemon)  # a, the owner, ends the call and writes its record
        await next_frame(ws, "call_state", call_id)

    [record] = await _history(b, "alice", call_id)  # one record, not one per node
    assert (record["notes"], record["disposition"]) == (NOTES, "Follow-up")
    assert record["agent"] == "alice"
    entries = a.daemon.store.outbox_entries(call_id=call_id, include_delivered=True)
    assert len(entries) == len(a.daemon.settings.crm.connectors)  # one row per connector
    await asyncio.sleep(1.0)  # either node's outbox worker had time to deliver it again
    assert len(await _history(a, "alice", call_id)) == 1


async def test_bob_who_was_not_shown_the_call_is_refused_on_either_node(
    nodes: tuple[Site, Site],
) -> None:
    a, b = nodes
    call_id = ring(a.daemon)
    for site in (a, b):
        cookie, _ = await site.login("bob")
        async with site.socket(cookie) as ws:
            for kind, data in (
                ("notes", {"call_id": call_id, "text": "not mine"}),
                ("disposition", {"call_id": call_id, "value": "Resolved"}),
            ):
                refused = await _send(ws, kind, kind[0], data)
                assert refused["type"] == "error", refused
                assert refused["data"]["error"] == "auth.forbidden"
                assert refused["data"]["details"] == {"call_id": call_id}
    assert a.daemon.store.notes_for(call_id) == []


async def test_with_the_owner_out_of_reach_alice_is_told_and_nothing_is_kept(
    nodes: tuple[Site, Site], redis_server: RedisServer
) -> None:
    """The lease moves to a node that is not listening: neither node can say whether the call
    was shown to alice, so neither keeps her notes, and her tab is told so (never a silent
    drop, never a "not yours"); before, ``b`` refused as if the call were not hers."""
    a, b = nodes
    cookie, _ = await b.login("alice")
    async with b.socket(cookie) as ws:
        call_id = ring(a.daemon)
        await next_frame(ws, "pop", call_id)
    await lose_owner(nodes, redis_server.url, PREFIX)
    for site in (a, b):
        cookie, _ = await site.login("alice")
        async with site.socket(cookie) as ws:
            for kind, data in (
                ("notes", {"call_id": call_id, "text": NOTES}),
                ("disposition", {"call_id": call_id, "value": "Resolved"}),
            ):
                failed = await _send(ws, kind, kind[0], data)
                assert failed["type"] == "error", failed
                assert failed["data"]["error"] == "cluster.owner_unreachable", failed
    assert a.daemon.store.notes_for(call_id) == []


async def test_wrap_up_notes_on_an_ended_call_are_kept_after_its_owner_is_gone(
    nodes: tuple[Site, Site], redis_server: RedisServer
) -> None:
    """The call ended on ``a`` (its record is queued in the shared store), then ``a``'s lease
    moved to a node that does not answer: the record names alice, so ``b`` keeps her wrap-up
    notes without the owner (``RecordedPops``). Before, she got ``cluster.owner_unreachable``
    (and after a restart, "not shown to you"): a wrap-up lost to a failover. Bob, whom the
    record does not name, still cannot write on it."""
    a, b = nodes
    cookie, _ = await b.login("alice")
    async with b.socket(cookie) as ws:
        call_id = ring(a.daemon)
        await next_frame(ws, "pop", call_id)
        _hang_up(a.daemon)
        await next_frame(ws, "call_state", call_id)
    queued = a.daemon.store.outbox_entries
    await eventually(lambda: bool(queued(call_id=call_id, include_delivered=True)), within=10)
    await lose_owner(nodes, redis_server.url, PREFIX)
    cookie, _ = await b.login("alice")
    async with b.socket(cookie) as ws:
        saved = await _send(ws, "notes", "w1", {"call_id": call_id, "text": NOTES})
        assert saved["type"] == "notes_saved", saved
        picked = await _send(ws, "disposition", "w2", {"call_id": call_id, "value": "Resolved"})
        assert picked["type"] == "disposition_saved", picked
    [note] = b.daemon.store.notes_for(call_id)
    assert (note.username, note.notes, note.disposition) == ("alice", NOTES, "Resolved")
    cookie, _ = await b.login("bob")
    async with b.socket(cookie) as ws:
        refused = await _send(ws, "notes", "b1", {"call_id": call_id, "text": "not mine"})
        assert refused["type"] == "error", refused
        assert refused["data"]["error"] == "cluster.owner_unreachable", refused
    assert [n.username for n in b.daemon.store.notes_for(call_id)] == ["alice"]
