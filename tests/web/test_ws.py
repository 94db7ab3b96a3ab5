"""The agent websocket over a real uvicorn server, with the websockets client library."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent_ui import messages
from agent_ui.policy import WebPolicy
from agent_ui.protocol import MAX_FRAME_BYTES, MAX_NOTES_CHARS, Disposition, Notes, Ping
from agent_ui.protocol import encode_incoming as enc
from cti.errors import NotFound
from cti.principal import Principal
from tests.web.conftest import USERS, Running, recv, resume, serve


async def refused(server: Running, **kwargs: object) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        async with server.socket(**kwargs):  # type: ignore[arg-type]
            pass
    return caught.value


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; return its close code."""
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def test_cookie_and_good_origin_get_hello(server: Running) -> None:
    cookie, _ = await server.login("alice")
    async with server.socket(cookie) as ws:
        hello = await resume(ws)
        snapshot = await recv(ws)
    assert hello["type"] == "hello"
    assert hello["data"]["agent"] == {
        "username": "alice",
        "display_name": "Alice Agent",
        "role": "agent",
    }
    assert hello["data"]["resume"]["mode"] == "snapshot"
    assert hello["data"]["limits"]["max_notes_chars"] == MAX_NOTES_CHARS
    assert snapshot == {"type": "snapshot", "seq": 0, "data": {"pops": []}}


async def test_handshake_refusals_are_http_403(server: Running) -> None:
    cookie, _ = await server.login("alice")
    admin, _ = await server.login("ada")
    cases = {
        "bad origin": await refused(server, cookie=cookie, origin="https://evil.example"),
        "no origin": await refused(server, cookie=cookie, origin=None),
        "null origin": await refused(server, cookie=cookie, origin="null"),
        "no cookie": await refused(server),
        "forged cookie": await refused(server, cookie=cookie[:-3] + "abc"),
        "admin": await refused(server, cookie=admin),
    }
    for case, error in cases.items():
        assert error.response.status_code == 403, case
        assert error.response.headers["content-security-policy"], case
    assert b"auth.origin" in cases["bad origin"].response.body
    assert b"auth.unauthenticated" in cases["no cookie"].response.body
    assert b"auth.forbidden" in cases["admin"].response.body
    assert server.hub.metrics().connections == 0


async def test_the_allowed_second_origin_works(server: Running) -> None:
    cookie, _ = await server.login("sam")
    async with server.socket(cookie, origin=f"http://localhost:{server.http.port}") as ws:
        assert (await resume(ws))["data"]["agent"]["role"] == "supervisor"


async def test_a_ticket_works_once_and_expires(server: Running) -> None:
    cookie, csrf = await server.login("alice")

    async def ticket() -> str:
        async with server.client() as client:
            client.cookies.set("cti_session", cookie)
            response = await client.post("/api/ws-ticket", headers={"x-cti-csrf": csrf})
            return str(response.json()["ticket"])

    first = await ticket()
    async with server.socket(query=f"?ticket={first}") as ws:
        assert (await resume(ws))["data"]["agent"]["username"] == "alice"
    assert (await refused(server, query=f"?ticket={first}")).response.status_code == 403
    late = await ticket()
    server.clock.now += 31
    assert (await refused(server, query=f"?ticket={late}")).response.status_code == 403
    assert (await refused(server, query="?ticket=made-up")).response.status_code == 403


async def test_a_message_for_alice_reaches_her_two_tabs_and_not_bob(server: Running) -> None:
    alice, _ = await server.login("alice")
    bob, _ = await server.login("bob")
    async with server.socket(alice) as tab1, server.socket(alice) as tab2, server.socket(bob) as b:
        for ws in (tab1, tab2, b):
            await resume(ws)
            await recv(ws)  # snapshot
        seq = server.hub.send("alice", messages.pop("lab:1", "<p>Ann</p>", {}))
        for tab in (tab1, tab2):
            got = await recv(tab)
            assert (got["type"], got["seq"], got["data"]["call_id"]) == ("pop", seq, "lab:1")
        await b.send(enc(Ping("after")))
        assert (await recv(b))["type"] == "pong"  # nothing of alice's came before it


async def test_reconnect_with_resume_gets_the_missed_messages_without_gap(
    server: Running,
) -> None:
    cookie, _ = await server.login("alice")
    async with server.socket(cookie) as ws:
        hello = await resume(ws)
        await recv(ws)
        for n in range(3):
            server.hub.send("alice", messages.pop(f"lab:{n}", "", {}))
        seqs = [(await recv(ws))["seq"] for _ in range(3)]
    assert seqs == [1, 2, 3]
    for n in range(3, 6):  # sent while the tab was away
        server.hub.send("alice", messages.pop_dismissed(f"lab:{n - 3}", "abandoned"))
    async with server.socket(cookie) as ws:
        again = await resume(ws, last_seq=seqs[-1], epoch=hello["data"]["resume"]["epoch"])
        server.hub.send("alice", messages.call_state("lab:9", "answered"))
        rest = [await recv(ws) for _ in range(4)]
    assert again["data"]["resume"] == {
        "mode": "replay",
        "epoch": hello["data"]["resume"]["epoch"],
        "seq": 3,
        "replayed": 3,
    }
    assert [m["seq"] for m in rest] == [4, 5, 6, 7]
    assert [m["type"] for m in rest] == ["pop_dismissed"] * 3 + ["call_state"]


async def test_a_fresh_page_gets_a_snapshot_of_open_pops(server: Running) -> None:
    server.pops["alice"] = [("lab:5", "<p>5</p>", {"call": {"caller_number": "+4420"}})]
    cookie, _ = await server.login("alice")
    async with server.socket(cookie) as ws:
        await resume(ws)
        snapshot = await recv(ws)
    assert [p["call_id"] for p in snapshot["data"]["pops"]] == ["lab:5"]
    assert snapshot["data"]["pops"][0]["dial"] == [{"number": "+4420", "label": "caller"}]


async def test_notes_and_disposition_are_stored_and_confirmed_to_every_tab(
    server: Running,
) -> None:
    cookie, _ = await server.login("alice")
    async with server.socket(cookie) as tab1, server.socket(cookie) as tab2:
        for ws in (tab1, tab2):
            await resume(ws)
            await recv(ws)
        await tab1.send(enc(Notes("lab:1", "called about invoice", "n1")))
        saved = [await recv(tab1), await recv(tab2)]
        await tab1.send(enc(Disposition("lab:1", "Resolved", "d1")))
        disposed = await recv(tab1)
    principal, stored = server.stored[0]
    assert principal == USERS["alice"][1]
    assert stored == Notes("lab:1", "called about invoice", "n1")
    assert server.stored[1][1] == Disposition("lab:1", "Resolved", "d1")
    for message in saved:
        assert message["type"] == "notes_saved"
        assert message["data"] == {"call_id": "lab:1", "length": 20, "ref": "n1"}
    assert saved[0]["seq"] == saved[1]["seq"] == 1
    assert disposed["data"] == {"call_id": "lab:1", "value": "Resolved", "ref": "d1"}


async def test_refusals_and_recoverable_problems_answer_error_and_keep_the_socket(
    server: Running,
) -> None:
    cookie, _ = await server.login("alice")
    async with server.socket(cookie) as ws:
        await resume(ws)
        await recv(ws)
        server.refuse_with = NotFound("no such call for you", details={"call_id": "lab:404"})
        await ws.send(enc(Notes("lab:404", "x", "r1")))
        not_found = await recv(ws)
        await ws.send(enc(Notes("lab:1", "n" * (MAX_NOTES_CHARS + 1), "r2")))
        too_long = await recv(ws)
        await ws.send('{"type":"shout","ref":"r3"}')
        unknown = await recv(ws)
        await ws.send(enc(Ping("still-here")))
        pong = await recv(ws)
    assert (not_found["type"], not_found["data"]["error"]) == ("error", "not_found")
    assert not_found["data"]["ref"] == "r1"
    assert (too_long["data"]["error"], too_long["data"]["ref"]) == ("protocol.invalid_field", "r2")
    assert unknown["data"]["error"] == "protocol.unknown_type"
    assert pong == {"type": "pong", "seq": 0, "data": {"ref": "still-here"}}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("x" * (MAX_FRAME_BYTES + 10), 1009),  # refused by the websocket layer (ws_max_size)
        (b"\x00\x01binary", 1003),
        ("{not json", 1007),
        ('{"type":"ping","sneaky":true}', 1007),
    ],
)
async def test_bad_frames_close_with_the_documented_code(
    server: Running, frame: str | bytes, code: int
) -> None:
    cookie, _ = await server.login("alice")
    async with server.socket(cookie, max_size=None) as ws:
        await resume(ws)
        await recv(ws)
        await ws.send(frame)
        assert await close_code(ws) == code
    await asyncio.sleep(0.05)
    assert server.hub.connections_of("alice") == 0


async def test_the_first_message_must_be_resume_in_time() -> None:
    async with serve(policy=WebPolicy(resume_timeout_s=0.3)) as server:
        cookie, _ = await server.login("alice")
        async with server.socket(cookie) as ws:
            await ws.send(enc(Ping()))
            assert await close_code(ws) == 1008
        async with server.socket(cookie) as ws:
            assert await close_code(ws) == 1008  # said nothing
        async with server.socket(cookie) as ws:
            await ws.send(b"resume")
            assert await close_code(ws) == 1003


async def test_a_browser_sending_too_fast_is_closed() -> None:
    async with serve(policy=WebPolicy(ws_messages_per_s=1, ws_message_burst=5)) as server:
        cookie, _ = await server.login("alice")
        async with server.socket(cookie) as ws:
            await resume(ws)
            for n in range(10):
                await ws.send(enc(Ping(f"p{n}")))
            assert await close_code(ws) == 1008


async def test_logout_closes_that_sessions_sockets(
    server: Running, mint_cookie: Callable[[Principal], str]
) -> None:
    cookie, csrf = await server.login("alice")
    other = mint_cookie(USERS["alice"][1])  # the same agent on another device
    async with server.socket(cookie) as ws, server.socket(other) as ws2:
        await resume(ws)
        await resume(ws2)
        async with server.client() as client:
            client.cookies.set("cti_session", cookie)
            await client.post("/logout", headers={"x-cti-csrf": csrf})
        assert await close_code(ws) == 1008
        assert server.hub.connections_of("alice") == 1


async def test_session_expiry_closes_the_socket() -> None:
    async with serve(policy=WebPolicy(session_max_age_s=1.0)) as server:
        cookie, _ = await server.login("bob")
        async with server.socket(cookie) as ws:
            await resume(ws)
            assert await close_code(ws) == 1008
