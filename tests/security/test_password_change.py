"""Self-service password change (issue 14, item 6): ``POST /api/me/password``.

Against a whole daemon over HTTP (tests/security/site.py): the policy's refusals name the rule
and store nothing, a wrong current password is refused, audited and throttled per user and
address as logins are, and a change keeps the session it was made from while every other
session of the user (and its websocket) ends; the new password signs in, the old one not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cti.store import GroupSpec, Role
from tests.security.site import PASSWORD, Site, close_code, running_site

NEW = "violet-harbour-tandem-42"
URL = "/api/me/password"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        store = running.daemon.store
        store.create_agent(
            "alice", password=PASSWORD, role=Role.AGENT, display_name="Barnaby Smith"
        )
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_group(GroupSpec("Sales", members=("alice",)))
        yield running


async def _client(site: Site, username: str = "alice") -> httpx.AsyncClient:
    cookie, csrf = await site.login(username)
    return site.client(cookie, csrf)


def _error(reply: httpx.Response) -> tuple[int, str, object]:
    body = reply.json()
    return reply.status_code, body.get("error", ""), body.get("details", {}).get("rule")


@pytest.mark.parametrize(
    ("new", "rule"),
    [
        ("short-1", "length"),
        ("x" * 129, "length"),
        ("my-alice-password-1", "username"),
        ("Password123456!", "common"),  # a leaked password with digits and a mark
        ("qwertyuiop123", "common"),  # a keyboard run
        ("aaaaaaaaaaaaaaaa", "common"),
        ("Barnaby Smith 2024", "common"),  # the user's own name and a year
        ("tab\tin-the-middle-x", "characters"),
    ],
)
async def test_the_policy_refuses_naming_the_rule(site: Site, new: str, rule: str) -> None:
    async with await _client(site) as alice:
        reply = await alice.post(URL, json={"current": PASSWORD, "new_password": new})
        assert _error(reply) == (422, "request.invalid", rule), reply.text
        assert reply.json()["details"]["field"] == "new_password"
    await site.login("alice", PASSWORD)  # nothing changed


async def test_a_change_keeps_this_session_and_ends_the_others(site: Site) -> None:
    other_cookie, _ = await site.login("alice")
    async with await _client(site) as alice, site.socket(other_cookie) as other_socket:
        reply = await alice.post(URL, json={"current": PASSWORD, "new_password": NEW})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"sessions_ended": 1}
        assert (await alice.get("/api/me")).status_code == 200  # this one is kept
        assert await site.status(other_cookie) == 401  # the other ends at its next request
        assert await close_code(other_socket) == 1008  # and its socket at the next sweep
    async with site.client() as anonymous:
        old = await anonymous.post("/login", json={"username": "alice", "password": PASSWORD})
        assert old.status_code == 401
    await site.login("alice", NEW)
    audit = site.daemon.store.events(kind="auth.password.changed")
    assert [(e.actor, e.details) for e in audit] == [("alice", {"sessions_ended": 1})]


async def test_a_wrong_current_password_is_refused_audited_and_throttled(site: Site) -> None:
    async with await _client(site) as alice, await _client(site, "root") as root:
        answers = []
        for _ in range(7):
            reply = await alice.post(URL, json={"current": "not-it-at-all", "new_password": NEW})
            answers.append(reply.status_code)
        # five free failures, then the doubling delay: as a login's
        assert answers[:5] == [403] * 5, answers
        assert answers[5:] == [429, 429], answers
        right = await alice.post(URL, json={"current": PASSWORD, "new_password": NEW})
        assert right.status_code == 429  # even the right one waits for the delay
        # another user from the same address is not slowed
        other = await root.post(URL, json={"current": PASSWORD, "new_password": NEW + "-r"})
        assert other.status_code == 200, other.text
    store = site.daemon.store
    assert len(store.events(kind="auth.password.failed")) == 5
    assert len(store.events(kind="auth.password.throttled")) == 1
    await site.login("alice", PASSWORD)  # unchanged


async def test_the_change_is_a_write_checked_as_every_write(site: Site) -> None:
    cookie, _csrf = await site.login("alice")
    async with site.client(cookie) as no_csrf:
        reply = await no_csrf.post(URL, json={"current": PASSWORD, "new_password": NEW})
        assert (reply.status_code, reply.json()["error"]) == (403, "auth.csrf")
    async with site.client() as anonymous:
        reply = await anonymous.post(URL, json={"current": PASSWORD, "new_password": NEW})
        assert reply.status_code == 401
    async with await _client(site) as alice:
        reply = await alice.post(URL, json={"current": PASSWORD})
        assert reply.status_code == 422
        assert reply.json()["details"]["field"] == "new_password"
    await site.login("alice", PASSWORD)
