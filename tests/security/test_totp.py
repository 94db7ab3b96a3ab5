"""TOTP second factor for supervisors and admins (issue 14, item 6), over HTTP.

Against a whole daemon (tests/security/site.py): enrolment shows an otpauth URI and its QR code
and is on only once a right code confirms it; the secret is stored sealed; then the password
alone starts no session: /login answers with a short-lived signed token and /login/totp takes
it with the code, each code once, wrong codes throttled per user and address and audited; an
admin resets a user's factor (audited), after which the password suffices again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import select

from cti.store import GroupSpec, Role
from cti.store.session_tables import totp_secrets
from tests.security.site import PASSWORD, Site, running_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        store = running.daemon.store
        store.create_agent("alice", password=PASSWORD, role=Role.AGENT)
        store.create_agent("sam", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_group(GroupSpec("Sales", members=("alice",), supervisors=("sam",)))
        yield running


async def _client(site: Site, username: str) -> httpx.AsyncClient:
    cookie, csrf = await site.login(username)
    return site.client(cookie, csrf)


async def _enrol(site: Site, username: str = "sam") -> pyotp.TOTP:
    async with await _client(site, username) as user:
        begun = (await user.post("/api/me/totp")).json()
        assert begun["uri"].startswith("otpauth://totp/CTI:" + username)
        assert begun["qr"].startswith("data:image/svg+xml")
        totp = pyotp.TOTP(begun["secret"])
        assert (await user.get("/api/me/totp")).json()["enabled"] is False
        wrong = await user.post("/api/me/totp/confirm", json={"code": "000000"})
        assert (wrong.status_code, wrong.json()["details"]["field"]) == (422, "code")
        done = await user.post("/api/me/totp/confirm", json={"code": totp.now()})
        assert done.status_code == 200, done.text
        assert (await user.get("/api/me/totp")).json()["enabled"] is True
    return totp


async def _password_step(client: httpx.AsyncClient, username: str) -> str:
    reply = await client.post("/login", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["second_factor"] == "totp"
    assert "csrf" not in body and not reply.cookies  # no session yet
    return str(body["token"])


async def test_enrolled_users_sign_in_with_a_code_used_once(site: Site) -> None:
    totp = await _enrol(site)
    async with site.client() as browser:
        token = await _password_step(browser, "sam")
        assert (await browser.get("/api/me")).status_code == 401
        wrong = await browser.post("/login/totp", json={"token": token, "code": "123456"})
        assert wrong.status_code == 401
        forged = await browser.post("/login/totp", json={"token": token + "x", "code": "1"})
        assert forged.status_code == 401
    # the code confirming enrolment is spent: wait for the next step's code
    code = totp.at(int(time.time()) + 30)
    async with site.client() as browser:
        token = await _password_step(browser, "sam")
        reply = await browser.post("/login/totp", json={"token": token, "code": code})
        assert reply.status_code == 200, reply.text
        assert reply.json()["user"]["username"] == "sam"
        me = await browser.get("/api/me")
        assert me.json()["user"]["role"] == "supervisor"
    async with site.client() as thief:
        token = await _password_step(thief, "sam")
        replay = await thief.post("/login/totp", json={"token": token, "code": code})
        assert replay.status_code == 401  # the same code again: refused
    store = site.daemon.store
    assert len(store.events(kind="auth.totp.enrolled")) == 1
    assert len(store.events(kind="auth.totp.failed")) == 2


async def test_wrong_codes_are_throttled_per_user_and_address(site: Site) -> None:
    await _enrol(site)
    async with site.client() as browser:
        token = await _password_step(browser, "sam")
        answers = [
            (await browser.post("/login/totp", json={"token": token, "code": "000000"})).status_code
            for _ in range(7)
        ]
    assert answers == [401] * 5 + [429] * 2, answers
    assert len(site.daemon.store.events(kind="auth.totp.throttled")) == 1


async def test_the_secret_is_sealed_and_agents_cannot_enrol(site: Site) -> None:
    totp = await _enrol(site)
    with site.daemon.store.reading("test") as conn:
        stored = conn.execute(select(totp_secrets.c.secret)).scalar_one()
    assert stored.startswith("fernet:") and totp.secret not in stored
    async with await _client(site, "alice") as alice:
        refused = await alice.post("/api/me/totp")
        assert (refused.status_code, refused.json()["error"]) == (403, "auth.forbidden")
        assert (await alice.get("/api/me/totp")).json() == {"enabled": False, "available": False}
    async with await _client(site, "alice") as alice:  # an agent's login: no second step
        assert (await alice.get("/api/me")).status_code == 200


async def test_an_admin_resets_a_users_factor(site: Site) -> None:
    await _enrol(site)
    async with await _client(site, "alice") as alice:
        refused = await alice.delete("/api/admin/agents/sam/totp")
        assert refused.status_code == 403
    async with await _client(site, "root") as root:
        assert (await root.delete("/api/admin/agents/sam/totp")).status_code == 204
        assert (await root.delete("/api/admin/agents/sam/totp")).status_code == 404
    await site.login("sam")  # the password alone signs in again
    reset = site.daemon.store.events(kind="auth.totp.reset")
    assert [(e.actor, e.details) for e in reset] == [("root", {"username": "sam"})]
