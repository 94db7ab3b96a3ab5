"""What the role-by-route matrix found (issue 14), one test each; every one failed before.

- a supervisor of another group read a group's recording policy; now 403;
- an admin could not set a group's recording policy (403); now they can, and 404 for no group;
- the recording-policy write read its body before the role: a malformed body from a visitor
  who may not write got 422 and learnt about the body; now 403 first;
- a malformed click-to-dial body answered 403 ``dial.refused``; now 422 naming ``number``,
  while a role that may not dial still gets 403 before its body is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cti.store import GroupSpec, Role
from tests.security.site import PASSWORD, Site, running_site

POLICY = "/api/supervisor/recording-policy"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        store = running.daemon.store
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_agent("alice", password=PASSWORD, role=Role.AGENT)
        store.create_agent("sam", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_agent("sue", password=PASSWORD, role=Role.SUPERVISOR)
        store.create_group(GroupSpec("Sales", members=("alice",), supervisors=("sam",)))
        store.create_group(GroupSpec("Claims", supervisors=("sue",)))
        yield running


async def client_of(site: Site, username: str) -> httpx.AsyncClient:
    cookie, csrf = await site.login(username)
    return site.client(cookie, csrf)


def _error(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, reply.json().get("error", "")


async def test_another_groups_supervisor_cannot_read_the_recording_policy(site: Site) -> None:
    async with await client_of(site, "sue") as sue, await client_of(site, "sam") as sam:
        assert _error(await sue.get(POLICY, params={"group": "Sales"})) == (403, "auth.forbidden")
        assert (await sam.get(POLICY, params={"group": "Sales"})).json()["group"] == "Sales"
        assert (await sue.get(POLICY, params={"group": "Claims"})).status_code == 200


async def test_an_admin_sets_any_groups_recording_policy(site: Site) -> None:
    async with await client_of(site, "root") as root, await client_of(site, "sam") as sam:
        reply = await root.put(POLICY, params={"group": "Sales"}, json={"policy": "always"})
        assert reply.status_code == 200, reply.text
        assert (await sam.get(POLICY, params={"group": "Sales"})).json()["policy"] == "always"
        assert (await root.get(POLICY, params={"group": "Sales"})).json()["policy"] == "always"
        missing = await root.put(POLICY, params={"group": "Nobody"}, json={"policy": "always"})
        assert _error(missing) == (404, "not_found")
    audit = site.daemon.store.events(kind="recording.policy")
    assert [(e.actor, e.details["group"]) for e in audit] == [("root", "Sales")]


async def test_the_policy_write_checks_the_role_before_the_body(site: Site) -> None:
    async with await client_of(site, "sue") as sue, await client_of(site, "alice") as alice:
        for client in (sue, alice):
            reply = await client.put(
                POLICY,
                params={"group": "Sales"},
                content=b"{not json",
                headers={"content-type": "application/json"},
            )
            assert _error(reply) == (403, "auth.forbidden"), reply.text
    assert site.daemon.recording.policy("Sales").policy.value == "never"


async def test_a_malformed_dial_body_is_a_422_naming_the_field(site: Site) -> None:
    async with await client_of(site, "alice") as alice:
        for body in ({}, {"number": 1002}, {"number": "  "}, {"number": "1" * 65}):
            reply = await alice.post("/api/dial", json=body)
            assert _error(reply) == (422, "request.invalid"), (body, reply.text)
            assert reply.json()["details"]["field"] == "number"
        # A well-formed number the rules refuse is still the dial rules' refusal.
        refused = await alice.post("/api/dial", json={"number": "100&PJSIP/1002"})
        assert _error(refused) == (403, "dial.refused")


async def test_dialing_checks_the_role_before_the_body(site: Site) -> None:
    async with await client_of(site, "root") as root:
        for body in (b"{not json", b"[]"):
            reply = await root.post(
                "/api/dial", content=body, headers={"content-type": "application/json"}
            )
            assert _error(reply) == (403, "auth.forbidden"), reply.text
