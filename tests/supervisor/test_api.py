"""The supervisor console's API on a real app, store and CRM: access, groups, versions,
publish, roll back, preview, audit, and the live view over the websocket."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from cti.core.events import Party, QueueMemberChanged
from cti.core.records import Direction
from cti.core.updates import CallState, CallView
from cti.pop.render import PopRenderer
from cti.pop.versions import sample_context
from tests.supervisor.harness import Harness, console_server, names

GOOD = '<section class="pop layout-a"><h2>{{ call.caller_number }}</h2></section>'


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with console_server(tmp_path) as harness:
        yield harness


async def save(client: httpx.AsyncClient, group: str, source: str | None, **settings: Any) -> Any:
    reply = await client.post(
        "/api/supervisor/versions",
        params={"group": group},
        json={"source": source, "settings": settings, "note": "test"},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


async def publish(client: httpx.AsyncClient, group: str, number: int) -> httpx.Response:
    return await client.post(f"/api/supervisor/versions/{number}/publish", params={"group": group})


# ------------------------------------------------------------------------------ access
async def test_a_supervisor_sees_and_changes_only_their_groups(h: Harness) -> None:
    sue = await h.client("sue")  # owns Support only
    overview = (await sue.get("/api/supervisor")).json()
    assert names(overview["groups"]) == ["Support"]
    assert {row["did"]: row["group"] for row in overview["did_map"]} == {
        "442079460100": "Sales",
        "442079460200": "Support",
    }
    for method, url, body in (
        ("GET", "/api/supervisor/templates", None),
        ("GET", "/api/supervisor/versions/1", None),
        ("POST", "/api/supervisor/versions", {"source": GOOD, "settings": {}}),
        ("POST", "/api/supervisor/versions/1/publish", None),
        ("POST", "/api/supervisor/versions/1/rollback", None),
        ("POST", "/api/supervisor/preview", {"source": GOOD, "settings": {}}),
        ("GET", "/api/supervisor/live", None),
        ("GET", "/api/supervisor/history", None),
        ("PUT", "/api/supervisor/group", {"name": "Mine now"}),
        ("DELETE", "/api/supervisor/group", None),
    ):
        reply = await sue.request(method, url, params={"group": "Sales"}, json=body)
        assert reply.status_code == 403, (method, url, reply.text)
        assert reply.json()["error"] == "auth.forbidden"
    assert (await sue.get("/api/supervisor/templates", params={"group": "Support"})).is_success

    alice = await h.client("alice")  # an agent
    assert (await alice.get("/api/supervisor")).status_code == 403
    reply = await alice.get("/api/supervisor/templates", params={"group": "Sales"})
    assert reply.status_code == 403

    root = await h.client("root")  # an admin edits every group
    assert names((await root.get("/api/supervisor")).json()["groups"]) == ["Sales", "Support"]
    assert (await root.get("/api/supervisor/templates", params={"group": "Sales"})).is_success

    anonymous = httpx.AsyncClient(base_url=h.origin)
    assert (await anonymous.get("/api/supervisor")).status_code == 401
    sam = await h.client("sam")
    del sam.headers["x-cti-csrf"]
    reply = await sam.post("/api/supervisor/groups", json={"name": "X"})
    assert (reply.status_code, reply.json()["error"]) == (403, "auth.csrf")
    for client in (sue, alice, root, anonymous, sam):
        await client.aclose()


# ------------------------------------------------------------------------------ groups
async def test_groups_created_renamed_staffed_and_deleted_with_an_audit_trail(
    h: Harness,
) -> None:
    sam, root = await h.client("sam"), await h.client("root")
    reply = await sam.post(
        "/api/supervisor/groups", json={"name": "Retention", "members": ["alice"]}
    )
    assert reply.status_code == 201, reply.text
    retention = next(
        g for g in (await sam.get("/api/supervisor")).json()["groups"] if g["name"] == "Retention"
    )
    assert retention["supervisors"] == ["sam"] and retention["members"] == ["alice"]
    # New numbers and queues are the admin's to hand out.
    reply = await root.put(
        "/api/supervisor/group",
        params={"group": "Retention"},
        json={"dids": ["442079460999"], "queues": ["retention"]},
    )
    assert reply.status_code == 200, reply.text

    reply = await sam.put(
        "/api/supervisor/group",
        params={"group": "Retention"},
        json={"name": "Win-back", "members": ["alice", "bob"]},
    )
    assert reply.status_code == 200, reply.text
    assert h.directory.did_groups["442079460999"] == "Win-back"  # the directory was rebuilt

    taken = await root.put(
        "/api/supervisor/group", params={"group": "Win-back"}, json={"dids": ["442079460100"]}
    )
    assert taken.status_code == 409 and "Sales" in taken.json()["message"]
    leaving = await sam.put(
        "/api/supervisor/group", params={"group": "Win-back"}, json={"supervisors": ["sue"]}
    )
    assert leaving.status_code == 422

    assert (
        await sam.delete("/api/supervisor/group", params={"group": "Win-back"})
    ).status_code == 204
    assert "Win-back" not in names((await sam.get("/api/supervisor")).json()["groups"])

    events = [(e.kind, e.actor, e.details.get("group")) for e in h.store.events(limit=20)]
    assert ("supervisor.group.created", "sam", "Retention") in events
    assert ("supervisor.group.updated", "sam", "Win-back") in events
    assert ("supervisor.group.deleted", "sam", "Win-back") in events
    updated = next(e for e in h.store.events(kind="supervisor.group.updated"))
    assert updated.details["changes"]["name"] == {"from": "Retention", "to": "Win-back"}
    await sam.aclose()
    await root.aclose()


async def test_which_calls_have_wrap_up_is_a_group_setting_owners_and_admins_change(
    h: Harness,
) -> None:
    sam, root = await h.client("sam"), await h.client("root")
    support = next(g for g in (await sam.get("/api/supervisor")).json()["groups"])
    assert support["wrapup_applies_to"] == "queue"  # the default: queue calls only
    group = support["name"]
    for client, scope in ((sam, "all"), (root, "none")):
        reply = await client.put(
            "/api/supervisor/group", params={"group": group}, json={"wrapup_applies_to": scope}
        )
        assert reply.status_code == 200, reply.text
        assert h.directory.groups[group].wrapup_applies_to == scope  # live at once
    bad = await sam.put(
        "/api/supervisor/group", params={"group": group}, json={"wrapup_applies_to": "direct"}
    )
    assert bad.status_code == 422 and bad.json()["details"] == {"field": "wrapup_applies_to"}
    assert h.directory.groups[group].wrapup_applies_to == "none"  # nothing half-done
    updated = next(e for e in h.store.events(kind="supervisor.group.updated"))
    assert updated.actor == "root"
    assert updated.details["changes"]["wrapup_applies_to"] == {"from": "all", "to": "none"}
    await sam.aclose()
    await root.aclose()


async def test_a_supervisor_cannot_reach_into_other_groups(h: Harness) -> None:
    """Sue owns Support only: every write that would take Sales' agents, numbers or queues,
    claim unassigned ones, or add owners is refused, and nothing changes."""
    sue = await h.client("sue")
    before = {g.name: g.spec for g in h.store.groups()}
    attempts = (
        ("PUT", {"members": ["carol", "alice"]}),  # an agent of Sales
        ("PUT", {"dids": ["442079460200", "442079460100"]}),  # Sales' DID
        ("PUT", {"dids": ["442079460200", "442079460777"]}),  # a DID no group has yet
        ("PUT", {"queues": ["support", "sales"]}),  # Sales' queue
        ("PUT", {"queues": ["support", "vip"]}),  # a queue no group has yet
        ("PUT", {"supervisors": ["sam", "sue", "root"]}),  # a co-owner
        ("POST", {"name": "Mine", "members": ["alice"]}),
        ("POST", {"name": "Mine", "dids": ["442079460777"]}),
        ("POST", {"name": "Mine", "queues": ["vip"]}),
        ("POST", {"name": "Mine", "supervisors": ["sue", "sam"]}),
    )
    for method, body in attempts:
        if method == "PUT":
            reply = await sue.put("/api/supervisor/group", params={"group": "Support"}, json=body)
        else:
            reply = await sue.post("/api/supervisor/groups", json=body)
        assert reply.status_code == 403, (body, reply.text)
        assert reply.json()["error"] == "auth.forbidden"
    assert {g.name: g.spec for g in h.store.groups()} == before
    # Within her own reach: dropping a member and a DID is hers to do.
    reply = await sue.put(
        "/api/supervisor/group", params={"group": "Support"}, json={"members": [], "dids": []}
    )
    assert reply.status_code == 200, reply.text
    await sue.aclose()


async def test_only_supervisors_and_admins_own_groups_and_see_their_live_feed(
    h: Harness,
) -> None:
    root = await h.client("root")
    reply = await root.put(
        "/api/supervisor/group", params={"group": "Sales"}, json={"supervisors": ["sam", "bob"]}
    )
    assert reply.status_code == 422 and "bob" in reply.text
    # Even listed by hand in the store, an agent gets no live view of the group.
    sales = next(g for g in h.store.groups() if g.name == "Sales")
    h.store.update_group("Sales", dataclasses.replace(sales.spec, supervisors=("sam", "bob")))
    await h.console.refresh()
    feed = h.console.feed
    sales = next(g for g in h.store.groups() if g.name == "Sales")
    assert set(sales.spec.supervisors) == {"sam", "bob"}
    online = {"sam", "bob"}
    feed.notifier.is_online = lambda user: user in online  # type: ignore[method-assign]
    assert feed._online_owners(sales) == ["sam"]
    await root.aclose()


# ------------------------------------------------------------------------------ versions
async def test_a_syntax_error_is_saved_as_a_draft_but_cannot_be_published(h: Harness) -> None:
    sam = await h.client("sam")
    draft = await save(sam, "Sales", "<section>\n{{ call.caller_number }}\n{% if %}</section>")
    assert draft["number"] == 1 and draft["problems"][0]["line"] == 3
    reply = await publish(sam, "Sales", 1)
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "template.error"
    assert body["details"]["line"] == 3 and "line 3" in body["message"]
    assert h.directory.groups["Sales"].template.startswith("{#")  # untouched: the default

    preview = await sam.post(
        "/api/supervisor/preview",
        params={"group": "Sales"},
        json={"source": "<p>\n{{ call.nope }}</p>", "settings": {}, "sample": "none"},
    )
    assert preview.json()["html"] is None
    assert preview.json()["error"]["line"] == 2 and preview.json()["error"]["kind"] == "undefined"
    await sam.aclose()


async def test_publish_makes_a_version_live_and_roll_back_restores_its_output_exactly(
    h: Harness,
) -> None:
    sam = await h.client("sam")
    renderer = PopRenderer()
    first = await save(
        sam, "Sales", None, layout={"none": "caller_only", "one": "compact", "several": "expanded"}
    )
    assert (await publish(sam, "Sales", first["number"])).status_code == 200
    live_one = h.directory.groups["Sales"]
    outputs = {k: renderer.render(live_one.template, sample_context(k)) for k in ("none", "one")}
    assert "layout-compact" in outputs["one"]

    second = await save(sam, "Sales", GOOD, trigger="answered", dispositions=["Sale", "No sale"])
    assert (await publish(sam, "Sales", second["number"])).status_code == 200
    live_two = h.directory.groups["Sales"]
    assert (live_two.trigger, live_two.dispositions) == ("answered", ("Sale", "No sale"))
    assert renderer.render(live_two.template, sample_context("one")) != outputs["one"]

    rolled = await sam.post(
        f"/api/supervisor/versions/{first['number']}/rollback", params={"group": "Sales"}
    )
    assert rolled.status_code == 201, rolled.text
    assert rolled.json()["number"] == 3 and rolled.json()["live"]
    live_three = h.directory.groups["Sales"]
    assert live_three.template == live_one.template
    assert live_three.trigger == "ringing"
    for kind, html in outputs.items():
        assert renderer.render(live_three.template, sample_context(kind)) == html

    listing = (await sam.get("/api/supervisor/templates", params={"group": "Sales"})).json()
    assert [v["number"] for v in listing["versions"]] == [3, 2, 1]
    assert listing["live"] == 3
    assert [v["author"] for v in listing["versions"]] == ["sam", "sam", "sam"]
    assert all(v["created_at"] for v in listing["versions"])

    diff = (
        await sam.get("/api/supervisor/diff", params={"group": "Sales", "from": 1, "to": 2})
    ).json()["diff"]
    assert '+settings:   "trigger": "answered",' in diff and "+" + GOOD in diff

    kinds = [(e.kind, e.actor) for e in h.store.events(limit=20)]
    assert ("supervisor.template.saved", "sam") in kinds
    assert ("supervisor.template.published", "sam") in kinds
    assert ("supervisor.template.rolled_back", "sam") in kinds
    history = (await sam.get("/api/supervisor/history", params={"group": "Sales"})).json()
    assert {"supervisor.template.published", "supervisor.template.saved"} <= {
        e["kind"] for e in history["events"]
    }
    await sam.aclose()


async def test_preview_with_sample_data_and_with_a_real_caller(h: Harness) -> None:
    sam = await h.client("sam")
    sample = await sam.post(
        "/api/supervisor/preview",
        params={"group": "Sales"},
        json={"source": None, "settings": {}, "sample": "several"},
    )
    assert "Bob Baker" in sample.json()["html"] and "Carol Carter" in sample.json()["html"]
    real = await sam.post(
        "/api/supervisor/preview",
        params={"group": "Sales"},
        json={"source": None, "settings": {}, "number": "020 7946 0001"},
    )
    body = real.json()
    assert body["number"] == "+442079460001" and body["match_count"] == "one"
    assert "Alice Archer" in body["html"] and "Globex Corporation" in body["html"]
    bad = await sam.post(
        "/api/supervisor/preview",
        params={"group": "Sales"},
        json={"source": None, "settings": {}, "number": "call me"},
    )
    assert bad.status_code == 422
    runaway = await sam.post(
        "/api/supervisor/preview",
        params={"group": "Sales"},
        json={
            "source": "{% for a in range(999) %}{% for b in range(999) %}{{ b }}{% endfor %}"
            "{% endfor %}",
            "settings": {},
        },
    )
    assert runaway.json()["error"]["kind"] == "limit"
    await sam.aclose()


# ------------------------------------------------------------------------------ live view
def call(call_id: str, **kw: Any) -> CallView:
    values: dict[str, Any] = {
        "call_id": call_id,
        "server": "lab",
        "direction": Direction.INBOUND,
        "state": CallState.ANSWERED,
        "caller": Party("+442079460001", "Alice Archer"),
        "called_number": "442079460100",
        "did": "442079460100",
        "trunk": "carrier",
        "queue": "sales",
        "started_at": time.time() - 30,
        "answered_at": time.time() - 20,
        "agent": "PJSIP/1001",
        "ringing": (),
        "transferred_from": None,
        "originate_id": None,
        "flags": (),
    }
    values.update(kw)
    return CallView(**values)


async def test_the_live_view_reaches_the_supervisor_over_the_websocket(h: Harness) -> None:
    sam = await h.client("sam")
    cookie = sam.cookies[h.cookie_name]
    async with connect(
        h.origin.replace("http", "ws") + "/ws",
        origin=Origin(h.origin),
        additional_headers={"Cookie": f"{h.cookie_name}={cookie}"},
    ) as ws:
        await ws.send(json.dumps({"type": "resume", "data": {"last_seq": None}}))
        hello = await until(ws, lambda m: m["type"] == "hello")
        h.calls[:] = [
            call("lab:1"),
            call("lab:2", state=CallState.QUEUED, agent=None, answered_at=None),
        ]
        h.console.observe(
            QueueMemberChanged(
                server="lab",
                at=time.time(),
                queue="sales",
                interface="PJSIP/1002",
                member_name="bob",
                paused=True,
                pause_reason="lunch",
                status=1,
                in_call=False,
            ),
            [],
        )
        h.console.pop_sent({"group": "Sales"})
        state = await until(
            ws,
            lambda m: (
                m["type"] == "group_state"
                and m["data"]["group"] == "Sales"
                and m["data"]["waiting"]
            ),
        )
        assert state["seq"] == hello["seq"]  # a live message: not numbered, not replayed
        data = state["data"]
        agents = {a["username"]: a for a in data["agents"]}
        assert agents["alice"]["state"] == "on_call" and agents["alice"]["call_id"] == "lab:1"
        assert (agents["bob"]["state"], agents["bob"]["reason"]) == ("paused", "lunch")
        assert agents["alice"]["online"] is False
        assert [c["call_id"] for c in data["calls"]] == ["lab:1"]
        assert data["calls"][0]["caller_name"] == "Alice Archer"
        assert data["calls"][0]["agent"] == "alice"
        assert [w["call_id"] for w in data["waiting"]] == ["lab:2"]
        assert data["pops_today"] == 1

        h.console.template_failed("Sales", "line 1: the template took longer than 200 ms", "lab:3")
        failed = await until(ws, lambda m: m["type"] == "template_failed")
        assert failed["data"]["group"] == "Sales" and "200 ms" in failed["data"]["error"]
        again = await until(ws, lambda m: m["type"] == "group_state" and m["data"]["failures"])
        assert again["data"]["failures"][0]["call_id"] == "lab:3"

    live = (await sam.get("/api/supervisor/live", params={"group": "Support"})).json()
    assert [a["username"] for a in live["agents"]] == ["carol"]
    assert live["calls"] == [] and live["waiting"] == []
    await asyncio.sleep(0.1)
    assert any(e.kind == "supervisor.template.failed" for e in h.store.events(limit=10))
    await sam.aclose()


async def until(ws: Any, predicate: Any, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await ws.recv())
            if predicate(message):
                return message
