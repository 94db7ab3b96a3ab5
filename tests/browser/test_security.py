"""The desktop's defences, in Chromium and over HTTP, against a daemon on the fake AMI server.

The fake AMI server records every action the daemon sends, so "refused before AMI is touched"
is a count of ``Originate`` actions, not a guess. A cross-site page is served from another
loopback address (127.0.0.2): another site as far as the browser is concerned.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.browser.conftest import FakePbx, OpenAgent

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

GOOD_NUMBER = "+442079460001"

EVIL_PAGE = """<!doctype html>
<html><head><title>Win a prize</title></head>
<body>
<h1>Congratulations!</h1>
<iframe name="sink" title="sink"></iframe>
<form id="dial" method="POST" action="{daemon}/api/dial" enctype="text/plain" target="sink">
  <input type="hidden" name='{{"number":"+442079460001","x":"' value='"}}'>
</form>
<script>
window.results = {{ ws: "pending", fetch: "pending" }};
const ws = new WebSocket("{ws}/ws");
ws.onopen = () => {{
  window.results.ws = "open";
  ws.send(JSON.stringify({{ type: "resume", data: {{ last_seq: null }} }}));
}};
ws.onmessage = (event) => {{ window.results.leak = event.data; }};
ws.onclose = (event) => {{
  if (window.results.ws !== "open") window.results.ws = "closed:" + event.code;
}};
fetch("{daemon}/api/dial", {{
  method: "POST", mode: "no-cors", credentials: "include",
  headers: {{ "Content-Type": "text/plain" }},
  body: JSON.stringify({{ number: "+442079460001" }}),
}}).then(() => {{ window.results.fetch = "sent"; }}, () => {{ window.results.fetch = "failed"; }});
document.getElementById("dial").submit();
</script>
</body></html>
"""


@pytest.fixture
def evil_site(fake_pbx: FakePbx) -> Iterator[str]:
    """A page on http://127.0.0.2:PORT that tries to use the agent's session."""
    daemon = fake_pbx.daemon.origin
    page = EVIL_PAGE.format(daemon=daemon, ws=daemon.replace("http", "ws", 1)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
async def logged_in(fake_pbx: FakePbx) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An HTTP client with alice's session cookie, and her CSRF token."""
    async with httpx.AsyncClient(base_url=fake_pbx.daemon.origin) as client:
        reply = await client.post("/login", json={"username": "alice", "password": "alice-demo"})
        assert reply.status_code == 200, reply.text
        yield client, reply.json()["csrf"]


async def test_a_cross_site_page_can_neither_open_the_socket_nor_dial(
    fake_pbx: FakePbx, evil_site: str, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    await alice.login("alice")  # the browser holds alice's session cookie now
    evil = await alice.page.context.new_page()
    await evil.goto(evil_site)
    await evil.wait_for_function("() => window.results.ws !== 'pending'")
    await evil.wait_for_function("() => window.results.fetch !== 'pending'")
    results = await evil.evaluate("() => window.results")
    assert results["ws"].startswith("closed:"), results  # never opened
    assert "leak" not in results
    await asyncio.sleep(1.0)  # let the form POST land, had it been accepted
    assert fake_pbx.originates() == []
    # The agent's own page is unaffected and still dials.
    await alice.page.fill("#dial-number", GOOD_NUMBER)
    await alice.page.press("#dial-number", "Enter")
    await alice.page.locator(".toast", has_text="pick up your phone").wait_for()
    assert fake_pbx.originates() == [GOOD_NUMBER]
    alice.assert_clean()


async def test_refused_numbers_never_reach_the_pbx_and_the_page_says_why(
    fake_pbx: FakePbx, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    await alice.login("alice")
    refusals = {
        "100&PJSIP/1002": "is not a phone number",
        "1001@from-trunk": "is not a phone number",
        "+44 909 879 0000": "premium rate",
        "+1 202 555 0100": "international numbers may not be dialled",
    }
    for number, why in refusals.items():
        await alice.page.fill("#dial-number", number)
        await alice.page.press("#dial-number", "Enter")
        await alice.page.locator(".toast-error", has_text=why).last.wait_for()
    assert fake_pbx.originates() == []

    # The same through the API, with a valid session and CSRF token: still refused.
    status = await alice.page.evaluate(
        """async (number) => {
            const me = await (await fetch("/api/me")).json();
            const reply = await fetch("/api/dial", {
              method: "POST",
              headers: {"Content-Type": "application/json", "X-CTI-CSRF": me.csrf},
              body: JSON.stringify({number}),
            });
            return [reply.status, (await reply.json()).error];
        }""",
        "100&PJSIP/1002\r\nAction: Originate",
    )
    assert status == [403, "dial.refused"]
    assert fake_pbx.originates() == []
    alice.assert_clean()


async def test_a_burst_of_dial_requests_is_rate_limited(
    fake_pbx: FakePbx, open_agent: OpenAgent
) -> None:
    alice = await open_agent(fake_pbx.daemon.origin)
    await alice.login("alice")
    statuses = await alice.page.evaluate(
        """async (number) => {
            const me = await (await fetch("/api/me")).json();
            const send = () => fetch("/api/dial", {
              method: "POST",
              headers: {"Content-Type": "application/json", "X-CTI-CSRF": me.csrf},
              body: JSON.stringify({number}),
            }).then((reply) => reply.status);
            return Promise.all(Array.from({length: 12}, send));
        }""",
        GOOD_NUMBER,
    )
    assert sorted(statuses) == [202] * 5 + [429] * 7  # [dial] max_per_window = 5 per 30 s
    assert len(fake_pbx.originates()) == 5
    await alice.page.fill("#dial-number", GOOD_NUMBER)
    await alice.page.press("#dial-number", "Enter")
    await alice.page.locator(".toast-error", has_text="try again in").wait_for()
    assert len(fake_pbx.originates()) == 5
    alice.assert_clean()


async def test_dial_needs_same_origin_csrf_and_an_agent_role(
    fake_pbx: FakePbx, logged_in: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = logged_in
    body = {"number": GOOD_NUMBER}
    cross = await client.post(
        "/api/dial", json=body, headers={"Origin": "http://127.0.0.2:8000", "X-CTI-CSRF": csrf}
    )
    assert (cross.status_code, cross.json()["error"]) == (403, "auth.origin")
    no_token = await client.post("/api/dial", json=body)
    assert (no_token.status_code, no_token.json()["error"]) == (403, "auth.csrf")
    async with httpx.AsyncClient(base_url=fake_pbx.daemon.origin) as stranger:
        anonymous = await stranger.post("/api/dial", json=body, headers={"X-CTI-CSRF": csrf})
        assert anonymous.status_code == 401
        login = await stranger.post("/login", json={"username": "root", "password": "root-demo"})
        admin_csrf = login.json()["csrf"]
        admin = await stranger.post("/api/dial", json=body, headers={"X-CTI-CSRF": admin_csrf})
        assert (admin.status_code, admin.json()["error"]) == (403, "auth.forbidden")
    assert fake_pbx.originates() == []

    ok = await client.post("/api/dial", json=body, headers={"X-CTI-CSRF": csrf})
    assert ok.status_code == 202, ok.text
    [originate] = fake_pbx.ami.actions("Originate")
    assert originate.get("Channel") == "PJSIP/1001"  # only ever the agent's own phone
    assert originate.get("Context") == "cti-click-to-dial"
    assert originate.get("Exten") == GOOD_NUMBER
    assert f"__CTI_ORIGINATE_ID={ok.json()['originate_id']}" in originate.raw.decode()


async def test_the_socket_refuses_a_foreign_origin_even_with_the_cookie(
    fake_pbx: FakePbx, logged_in: tuple[httpx.AsyncClient, str]
) -> None:
    client, _ = logged_in
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    ws_url = fake_pbx.daemon.origin.replace("http", "ws", 1) + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            ws_url, origin="http://127.0.0.2:8000", additional_headers={"Cookie": cookie}
        )
    assert refused.value.response.status_code == 403
    async with websockets.connect(
        ws_url, origin=fake_pbx.daemon.origin, additional_headers={"Cookie": cookie}
    ) as ws:
        await ws.send('{"type": "resume", "data": {"last_seq": null}}')
        assert '"hello"' in await asyncio.wait_for(ws.recv(), 5)
