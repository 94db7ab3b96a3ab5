"""Login, session cookie, CSRF, origins, tickets and security headers, over a real server."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx

from agent_ui.policy import WebPolicy
from tests.web.conftest import Running, serve


def cookie_attributes(response: httpx.Response) -> dict[str, str]:
    jar = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    (morsel,) = jar.values()
    raw = response.headers["set-cookie"].lower()
    attrs = {k: str(v) for k, v in morsel.items() if v}
    attrs["name"] = morsel.key
    attrs["httponly"] = str("httponly" in raw)
    attrs["secure"] = str("; secure" in raw)
    return attrs


async def test_login_sets_a_strict_httponly_session_cookie(server: Running) -> None:
    async with server.client() as client:
        response = await client.post("/login", json={"username": "alice", "password": "alice-pw"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"username": "alice", "display_name": "Alice Agent", "role": "agent"}
    assert len(body["csrf"]) >= 32
    assert response.headers["cache-control"] == "no-store"
    attrs = cookie_attributes(response)
    assert attrs["name"] == "cti_session"
    assert attrs["httponly"] == "True"
    assert attrs["samesite"] == "strict"
    assert attrs["path"] == "/"
    assert attrs["max-age"] == str(12 * 3600)
    assert attrs["secure"] == "False"  # plain HTTP in this test; see the next test


async def test_secure_deployments_get_a_secure_host_prefixed_cookie() -> None:
    async with serve(secure_cookies=True) as server, server.client() as client:
        response = await client.post("/login", data={"username": "alice", "password": "alice-pw"})
    assert response.status_code == 200
    attrs = cookie_attributes(response)
    assert attrs["name"] == "__Host-cti_session"
    assert attrs["secure"] == "True"
    assert "max-age=31536000" in response.headers["strict-transport-security"]


async def test_wrong_password_and_bad_bodies_are_json_errors(server: Running) -> None:
    async with server.client() as client:
        wrong = await client.post("/login", json={"username": "alice", "password": "nope"})
        shape = await client.post("/login", json={"username": "alice"})
        kind = await client.post("/login", content=b"x", headers={"content-type": "text/plain"})
        huge = await client.post("/login", json={"username": "a", "password": "p" * 20_000})
        missing = await client.get("/nowhere")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "auth.unauthenticated")
    assert "set-cookie" not in wrong.headers
    assert (shape.status_code, shape.json()["error"]) == (422, "request.invalid")
    assert shape.json()["details"] == {"field": "password", "limit": 1024}
    assert kind.status_code == 422
    assert (huge.status_code, huge.json()["error"]) == (413, "request.too_large")
    assert (missing.status_code, missing.json()["error"]) == (404, "http.404")


BOB_WRONG = {"username": "bob", "password": "x"}
BOB_RIGHT = {"username": "bob", "password": "bob-pw"}


async def test_login_attempts_are_rate_limited_per_username() -> None:
    async with serve(policy=WebPolicy(login_user_failures=3)) as server, server.client() as client:
        for _ in range(3):
            response = await client.post("/login", json={"username": "bob", "password": "x"})
            assert response.status_code == 401
        blocked = await client.post("/login", json={"username": "BOB", "password": "bob-pw"})
        other = await client.post("/login", json={"username": "alice", "password": "alice-pw"})
    assert (blocked.status_code, blocked.json()["error"]) == (429, "rate_limited")
    assert int(blocked.headers["retry-after"]) > 0
    assert other.status_code == 200


async def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere() -> None:
    """Wrong passwords for bob from a guesser's address slow that address down, with growing
    delays, while bob signs in from his desk; forwarded addresses are believed only from the
    configured proxy (loopback here), and failures and throttling are audited."""
    guesser, desk = {"x-forwarded-for": "198.51.100.7"}, {"x-forwarded-for": "203.0.113.9"}
    async with (
        serve(policy=WebPolicy(login_user_failures=3), trusted_proxies=("127.0.0.1",)) as server,
        server.client() as client,
    ):
        codes = [
            (await client.post("/login", json=BOB_WRONG, headers=guesser)).status_code
            for _ in range(4)
        ]
        again = await client.post("/login", json=BOB_RIGHT, headers=guesser)
        from_desk = await client.post("/login", json=BOB_RIGHT, headers=desk)
        server.clock.now += 1.5  # the first delay (1 s) has passed: one more try, then 2 s
        late = await client.post("/login", json=BOB_WRONG, headers=guesser)
        blocked = await client.post("/login", json=BOB_WRONG, headers=guesser)
    assert codes == [401, 401, 401, 429]
    assert (again.status_code, from_desk.status_code) == (429, 200)
    assert (late.status_code, blocked.status_code) == (401, 429)
    assert int(blocked.headers["retry-after"]) >= 2
    kinds = [(kind, details["address"]) for kind, details in server.audited]
    assert kinds.count(("auth.login.failed", "198.51.100.7")) == 4
    assert kinds.count(("auth.login.throttled", "198.51.100.7")) == 2  # once per run of refusals
    assert ("auth.login.failed", "203.0.113.9") not in kinds


async def test_forwarded_addresses_are_ignored_without_a_trusted_proxy() -> None:
    async with serve(policy=WebPolicy(login_user_failures=2)) as server, server.client() as client:
        for spoof in ("198.51.100.1", "198.51.100.2"):
            reply = await client.post("/login", json=BOB_WRONG, headers={"x-forwarded-for": spoof})
            assert reply.status_code == 401
        third = await client.post("/login", json=BOB_WRONG, headers={"x-forwarded-for": "1.2.3.4"})
    assert third.status_code == 429  # one address (the peer's), whatever the header says
    assert {details["address"] for _, details in server.audited} == {"127.0.0.1"}


async def test_login_attempts_are_rate_limited_per_address() -> None:
    async with serve(policy=WebPolicy(login_ip_attempts=4)) as server, server.client() as client:
        codes = [
            (await client.post("/login", json={"username": f"u{n}", "password": "x"})).status_code
            for n in range(6)
        ]
    assert codes == [401, 401, 401, 401, 429, 429]


async def test_me_needs_a_session_and_returns_the_csrf_token(server: Running) -> None:
    cookie, csrf = await server.login("sam")
    async with server.client() as client:
        anonymous = await client.get("/api/me")
        client.cookies.set("cti_session", cookie[:-2] + "xx")
        forged = await client.get("/api/me")
        client.cookies.set("cti_session", cookie)
        me = await client.get("/api/me")
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "auth.unauthenticated")
    assert forged.status_code == 401
    assert me.status_code == 200
    assert me.json()["user"]["role"] == "supervisor"
    assert me.json()["csrf"] == csrf


async def test_state_changing_requests_need_the_csrf_header(server: Running) -> None:
    cookie, csrf = await server.login("alice")
    async with server.client() as client:
        client.cookies.set("cti_session", cookie)
        without = await client.post("/api/ws-ticket")
        wrong = await client.post("/api/ws-ticket", headers={"x-cti-csrf": "guess"})
        right = await client.post("/api/ws-ticket", headers={"x-cti-csrf": csrf})
        logout = await client.post("/logout")
    assert (without.status_code, without.json()["error"]) == (403, "auth.csrf")
    assert wrong.status_code == 403
    assert right.status_code == 200
    assert right.json()["expires_in_s"] == 30
    assert (logout.status_code, logout.json()["error"]) == (403, "auth.csrf")


async def test_cross_site_posts_are_refused(server: Running) -> None:
    cookie, csrf = await server.login("alice")
    evil = {"origin": "https://evil.example"}
    async with server.client(**evil) as client:
        login = await client.post("/login", json={"username": "alice", "password": "alice-pw"})
        client.cookies.set("cti_session", cookie)
        ticket = await client.post("/api/ws-ticket", headers={"x-cti-csrf": csrf})
    async with server.client(**{"sec-fetch-site": "cross-site"}) as client:
        fetch_meta = await client.post("/login", json={"username": "alice", "password": "alice-pw"})
    async with server.client(origin=f"http://localhost:{server.http.port}") as client:
        allowed = await client.post("/login", json={"username": "alice", "password": "alice-pw"})
    assert (login.status_code, login.json()["error"]) == (403, "auth.origin")
    assert ticket.status_code == 403
    assert fetch_meta.status_code == 403
    assert allowed.status_code == 200


async def test_roles_are_checked_on_the_server(server: Running) -> None:
    cookie, csrf = await server.login("ada")
    async with server.client() as client:
        client.cookies.set("cti_session", cookie)
        me = await client.get("/api/me")
        ticket = await client.post("/api/ws-ticket", headers={"x-cti-csrf": csrf})
    assert me.status_code == 200
    assert (ticket.status_code, ticket.json()["error"]) == (403, "auth.forbidden")


async def test_logout_ends_the_session(server: Running) -> None:
    cookie, csrf = await server.login("alice")
    async with server.client() as client:
        client.cookies.set("cti_session", cookie)
        out = await client.post("/logout", headers={"x-cti-csrf": csrf})
        client.cookies.set("cti_session", cookie)  # a copy of the old cookie is worth nothing
        after = await client.get("/api/me")
    assert out.status_code == 204
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert after.status_code == 401


async def test_every_response_carries_the_security_headers(server: Running) -> None:
    async with server.client() as client:
        responses = [
            await client.get("/api/me"),
            await client.get("/missing"),
            await client.post("/login", json={"username": "alice", "password": "alice-pw"}),
        ]
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert f"ws://127.0.0.1:{server.http.port}" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
