"""Who may call what: every HTTP route and websocket message, for every kind of visitor.

The routes are read from the daemon's app itself (``Daemon.build_app()``), so a route added
without an entry in :data:`ACCESS` fails :func:`test_every_route_has_an_entry`. Each entry names
who may use the route; the matrix test then calls it as anonymous, an agent, a supervisor of
the group it names, a supervisor of another group and an admin, and asserts 401 for anonymous,
403 for a role that may not, and neither for one that may (the request itself may still be
wrong: 404, 409 or 422 is an allowed caller's answer).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from agent_ui.protocol import Resume, encode_incoming
from cti.store import GroupSpec, Role
from tests.security.site import PASSWORD, Site, running_site

# Agent, supervisor of another group, supervisor of the group, admin: in this order, so that
# a route that deletes (sam's group "Doomed") is refused to the others before it succeeds.
VISITORS = ("anonymous", "alice", "sue", "sam", "root")

# Who may: everyone (no session needed), any signed-in user, agents and supervisors (the
# desktop), supervisors of the named group and admins, any supervisor and admins, admins only,
# and routes a session never opens (API keys, device secrets): 401/404 for everyone alike.
ALLOWED = {
    "public": set(VISITORS),
    "self": {"alice", "sam", "sue", "root"},
    "desk": {"alice", "sam", "sue"},
    "group": {"sam", "root"},
    "supervise": {"sam", "sue", "root"},
    "admin": {"root"},
    "apikey": set(),
    "device": set(),
}

ACCESS: dict[tuple[str, str], str] = {
    ("POST", "/login"): "public",
    ("POST", "/logout"): "public",
    ("GET", "/api/me"): "self",
    ("POST", "/api/me/password"): "self",
    ("GET", "/api/me/totp"): "self",
    ("POST", "/api/me/totp"): "supervise",  # two-step sign-in: supervisors and admins
    ("POST", "/api/me/totp/confirm"): "self",
    ("POST", "/login/totp"): "public",
    ("GET", "/login/oidc/options"): "public",
    ("GET", "/login/oidc"): "public",  # 404 while single sign-on is off (tests/browser/test_sso)
    ("GET", "/login/oidc/callback"): "public",
    ("DELETE", "/api/admin/agents/{username}/totp"): "admin",
    ("POST", "/api/ws-ticket"): "desk",
    ("GET", "/"): "public",
    ("GET", "/agent"): "public",  # the pages are static; their APIs check
    ("GET", "/supervisor"): "public",
    ("GET", "/admin"): "public",
    ("GET", "/wallboard"): "public",  # its board and thresholds check (/api/supervisor/wallboard)
    ("GET", "/healthz"): "public",
    ("GET", "/metrics"): "public",
    **{
        (method, path): "admin"
        for method, path in (
            ("GET", "/api/admin/servers"),
            ("GET", "/api/admin/cluster"),
            ("POST", "/api/admin/servers"),
            ("PUT", "/api/admin/servers/{name}"),
            ("DELETE", "/api/admin/servers/{name}"),
            ("GET", "/api/admin/trunks"),
            ("POST", "/api/admin/trunks/discover"),
            ("GET", "/api/admin/dids"),
            ("POST", "/api/admin/groups"),
            ("PUT", "/api/admin/dids/{did}"),
            ("GET", "/api/admin/agents/template.xlsx"),
            ("GET", "/api/admin/agents/export"),
            ("POST", "/api/admin/agents/{username}/password"),
            ("POST", "/api/admin/imports"),
            ("GET", "/api/admin/imports/{id}"),
            ("POST", "/api/admin/imports/{id}/rows"),
            ("POST", "/api/admin/imports/{id}/apply"),
            ("GET", "/api/admin/config"),
            ("POST", "/api/admin/config/apply"),
            ("GET", "/api/admin/audit"),
            ("GET", "/api/admin/site-settings"),  # the default region
            ("PUT", "/api/admin/site-settings"),
            ("GET", "/api/admin/access/pools"),
            ("POST", "/api/admin/access/pools"),
            ("PUT", "/api/admin/access/pools/{name}"),
            ("DELETE", "/api/admin/access/pools/{name}"),
            ("GET", "/api/admin/access/keys"),
            ("POST", "/api/admin/access/keys"),
            ("DELETE", "/api/admin/access/keys/{id}"),
            ("GET", "/api/admin/access/status"),
            ("GET", "/api/site"),
            ("GET", "/api/site/summary"),
            ("PUT", "/api/site/step"),
            ("POST", "/api/site/locations"),
            ("POST", "/api/site/numbers"),
            ("POST", "/api/site/numbers/{number}/letter"),
            ("POST", "/api/site/devices"),
            ("DELETE", "/api/site/devices/{mac}"),
            ("POST", "/api/site/signup-links"),
            ("GET", "/api/site/signup-links"),
            ("DELETE", "/api/site/signup-links/{id}"),
        )
    },
    ("GET", "/api/v1/openapi.json"): "public",
    # The example customer page and its backend (which holds the API key): open as a shop's.
    ("GET", "/examples/call-us"): "public",
    ("POST", "/examples/call-us/interactions"): "public",
    ("GET", "/examples/call-us/interactions/{id}"): "public",
    ("DELETE", "/examples/call-us/interactions/{id}"): "public",
    ("POST", "/api/v1/interactions"): "apikey",
    ("GET", "/api/v1/interactions/{id}"): "apikey",
    ("DELETE", "/api/v1/interactions/{id}"): "apikey",
    ("GET", "/provisioning/s/{secret}/{file}"): "device",
    ("GET", "/provisioning/{file}"): "device",
    ("GET", "/signup/{token}"): "public",  # the page: static, it changes nothing
    ("POST", "/signup/{token}/open"): "device",  # the link's token is the proof
    ("GET", "/signup/{token}/state"): "device",
    ("POST", "/signup/{token}/password"): "device",
    ("POST", "/signup/{token}/device/desktop"): "device",
    ("POST", "/signup/{token}/device/mobile"): "device",
    ("GET", "/softphone/{download}/{file}"): "device",  # a softphone's download token
    ("GET", "/api/supervisor"): "supervise",
    ("POST", "/api/supervisor/groups"): "supervise",
    ("PUT", "/api/supervisor/group"): "group",
    ("DELETE", "/api/supervisor/group"): "group",
    ("GET", "/api/supervisor/templates"): "group",
    ("POST", "/api/supervisor/versions"): "group",
    ("GET", "/api/supervisor/versions/{number}"): "group",
    ("POST", "/api/supervisor/versions/{number}/publish"): "group",
    ("POST", "/api/supervisor/versions/{number}/rollback"): "group",
    ("GET", "/api/supervisor/diff"): "group",
    ("POST", "/api/supervisor/preview"): "group",
    ("GET", "/api/supervisor/live"): "group",
    ("GET", "/api/supervisor/history"): "group",
    ("GET", "/api/supervisor/wallboard"): "group",
    ("PUT", "/api/supervisor/wallboard/thresholds"): "group",
    ("GET", "/api/supervisor/recording-policy"): "group",
    ("PUT", "/api/supervisor/recording-policy"): "group",
    ("POST", "/api/dial"): "desk",
    ("POST", "/api/calls/hangup"): "desk",
    ("POST", "/api/calls/transfer"): "desk",
    ("GET", "/api/calls/restore"): "desk",
    ("GET", "/api/crm/search"): "desk",
    ("GET", "/api/crm/history"): "desk",
    ("POST", "/api/crm/link"): "desk",
    ("POST", "/api/crm/contacts"): "desk",
    ("GET", "/api/agent/state"): "desk",
    ("POST", "/api/agent/state"): "desk",
    ("POST", "/api/agent/wrapup/end"): "desk",
    ("GET", "/api/agent/colleagues"): "desk",
    ("GET", "/api/phone/registration"): "self",  # one's own browser phone, if any
    ("POST", "/api/agent/test-call"): "desk",  # rings one's own phone
    ("GET", "/api/agent/missed-calls"): "desk",  # one's own list
    ("POST", "/api/agent/missed-calls/seen"): "desk",
    ("POST", "/api/supervisor/simulate-call"): "group",
    ("POST", "/api/monitor"): "supervise",
    ("GET", "/api/monitor"): "self",  # one's own listening sessions (none for an agent)
    ("POST", "/api/monitor/{id}/mode"): "supervise",
    ("DELETE", "/api/monitor/{id}"): "supervise",
    ("GET", "/api/recordings"): "self",
    ("POST", "/api/recordings/pause"): "desk",
    ("POST", "/api/recordings/resume"): "desk",
    ("GET", "/api/recordings/{id}"): "self",
    ("GET", "/api/reports"): "supervise",
    ("GET", "/api/reports.csv"): "supervise",
    ("GET", "/api/reports/options"): "supervise",
    ("GET", "/api/admin/dashboard"): "admin",
}


# Cells known to be wrong today, listed so the matrix passes meanwhile and fails once they are
# fixed (then delete them here). The recording-policy holes it found are fixed
# (tests/security/test_matrix_findings.py).
KNOWN_HOLES: set[tuple[str, str, str]] = set()


def app_routes(site: Site) -> list[tuple[str, str]]:
    """Every (method, path) the daemon's app serves (HEAD aside; the static mount apart)."""
    found = []
    for route in site.daemon.build_app().routes:
        if isinstance(route, Route):
            found += [(m, route.path) for m in sorted((route.methods or set()) - {"HEAD"})]
        elif not isinstance(route, WebSocketRoute | Mount):
            found.append(("?", str(route)))
    return found


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
        store.create_group(GroupSpec("Doomed", supervisors=("sam",)))
        yield running


@pytest.fixture
async def clients(site: Site) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    made = {"anonymous": site.client()}
    for name in VISITORS[1:]:
        cookie, csrf = await site.login(name)
        made[name] = site.client(cookie, csrf)
    yield made
    for client in made.values():
        await client.aclose()


async def test_every_route_has_an_entry(site: Site) -> None:
    missing = [route for route in app_routes(site) if route not in ACCESS]
    assert missing == [], f"add these routes to ACCESS (who may call them): {missing}"
    stale = sorted(set(ACCESS) - set(app_routes(site)))
    assert stale == [], f"ACCESS names routes the app no longer has: {stale}"


def _url(method: str, path: str) -> str:
    url = path.replace("{", "").replace("}", "")  # {id} -> id: a value that exists nowhere
    if not url.startswith("/api/supervisor"):
        return url
    # Deleting a group really deletes it: sam's own "Doomed", which sue may not touch.
    group = "Doomed" if (method, path) == ("DELETE", "/api/supervisor/group") else "Sales"
    return url + f"?group={group}&from=1&to=2"


def _refused(reply: httpx.Response) -> str | None:
    """The refusal of who is asking (401 or a role's 403), None for any other answer."""
    error = reply.json().get("error") if "json" in reply.headers.get("content-type", "") else None
    if reply.status_code == 401:
        return "401"
    return "403" if reply.status_code == 403 and error == "auth.forbidden" else None


async def test_each_visitor_reaches_exactly_what_their_role_allows(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    wrong, holes = [], set()
    for (method, path), kind, visitor in (
        (*entry, v) for entry in sorted(ACCESS.items()) for v in VISITORS
    ):
        if path in ("/login", "/logout", "/login/totp"):
            continue  # they change the visitor's own session; covered in test_sessions
        body: dict[str, object] | None = None if method in ("GET", "DELETE") else {}
        reply = await clients[visitor].request(method, _url(method, path), json=body)
        allowed = visitor in ALLOWED[kind]
        if kind in ("apikey", "device"):
            ok = reply.status_code >= 400  # a session opens none of them
        elif allowed:
            ok = _refused(reply) is None
        else:
            ok = _refused(reply) == ("401" if visitor == "anonymous" else "403")
        if not ok and (visitor, method, path) in KNOWN_HOLES:
            holes.add((visitor, method, path))
        elif not ok:
            wrong.append((visitor, method, path, kind, reply.status_code, reply.text[:100]))
    assert wrong == [], "\n".join(map(str, wrong))
    assert holes == KNOWN_HOLES, f"fixed meanwhile: remove {KNOWN_HOLES - holes} from KNOWN_HOLES"


async def test_the_websocket_and_its_messages_by_role(site: Site) -> None:
    for visitor in VISITORS:
        await _socket_as(site, visitor)


async def _socket_as(site: Site, visitor: str) -> None:
    headers = {}
    if visitor != "anonymous":
        cookie, _ = await site.login(visitor)
        headers["Cookie"] = f"{site.cookie_name}={cookie}"
    opening = connect(site.ws_url, origin=Origin(site.url), additional_headers=headers)
    if visitor not in ALLOWED["desk"]:
        with pytest.raises(InvalidStatus) as refused:
            await opening
        assert refused.value.response.status_code == 403
        return
    async with opening as ws:
        await ws.send(encode_incoming(Resume(None, None)))
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.recv()  # snapshot
        for message in (
            {"type": "ping", "ref": "p"},
            {"type": "notes", "ref": "n", "data": {"call_id": "lab:1.1", "text": "hello"}},
            {"type": "disposition", "ref": "d", "data": {"call_id": "lab:1.1", "value": "Sale"}},
        ):
            await ws.send(json.dumps(message))
            reply = json.loads(await ws.recv())
            assert reply["data"].get("ref", reply.get("ref")) == message["ref"], reply
            # a role that may write notes: refused for the call (never shown), not for the role
            assert "action" not in reply["data"].get("details", {}), reply
