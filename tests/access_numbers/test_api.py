"""The company-backend API over HTTP (httpx on the ASGI app, the real store): keys, scopes,
the rate limit, 422s naming the field, exhaustion as 503 with Retry-After, GET and DELETE,
and the OpenAPI description generated from the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from agent_ui.access_api import access_api_routes
from cti.access_numbers.service import AccessNumbers
from cti.store import Store

BODY: dict[str, Any] = {
    "pool": "web",
    "customer": {"phone": "07700 900123", "crm_id": "003A1"},
    "caller_number": "+447700900123",
    "context": {"who": "Ann Lee", "intent": "refund", "order": "A-1042", "page": "/orders/1042"},
}


@pytest.fixture
async def client(access: AccessNumbers) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=access_api_routes(access, "GB"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as http:
        yield http


async def bearer(access: AccessNumbers, per_minute: int = 600) -> dict[str, str]:
    _, key = await access.issue_key("shop", ["web"], per_minute, "admin")
    return {"authorization": f"Bearer {key}"}


def rows(store: Store) -> int:
    with store.reading("test") as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM access_reservations").scalar_one())


async def test_reserve_get_cancel(client: httpx.AsyncClient, access: AccessNumbers) -> None:
    auth = await bearer(access)
    made = await client.post("/api/v1/interactions", json=BODY, headers=auth)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["id"].startswith("ix_") and body["state"] == "live"
    assert body["number"]["e164"].startswith("+44207946100")
    assert body["number"]["display"].startswith("020 7946 ")
    assert body["caller_number"] == "+447700900123"
    got = await client.get(f"/api/v1/interactions/{body['id']}", headers=auth)
    assert got.status_code == 200 and got.json()["expires_at"] == body["expires_at"]
    gone = await client.delete(f"/api/v1/interactions/{body['id']}", headers=auth)
    assert gone.status_code == 200 and gone.json()["state"] == "cancelled"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"caller_number": "call me maybe"}, "caller_number"),
        ({"customer": {"phone": "12"}}, "customer.phone"),
        ({"customer": {}}, "customer"),
        ({"context": {"blob": "x" * 5000}}, "context"),
        ({"context": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "context"),
        ({"surprise": 1}, "surprise"),
        ({"context": []}, "context"),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    access: AccessNumbers,
    store: Store,
    change: dict[str, Any],
    field: str,
) -> None:
    auth = await bearer(access)
    answer = await client.post("/api/v1/interactions", json={**BODY, **change}, headers=auth)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "request.invalid"
    assert answer.json()["details"]["field"] == field
    assert rows(store) == 0


async def test_keys_wrong_revoked_and_out_of_scope(
    client: httpx.AsyncClient, access: AccessNumbers, store: Store
) -> None:
    for headers in ({}, {"authorization": "Bearer cti_ak_wrong"}, {"authorization": "Basic x"}):
        answer = await client.post("/api/v1/interactions", json=BODY, headers=headers)
        assert answer.status_code == 401 and answer.json()["error"] == "access.key_rejected"
    auth = await bearer(access)
    other = await client.post("/api/v1/interactions", json={**BODY, "pool": "x"}, headers=auth)
    assert other.status_code == 403 and other.json()["error"] == "access.out_of_scope"
    [key] = await access.keys()
    await access.revoke_key(key.id, "admin")
    revoked = await client.post("/api/v1/interactions", json=BODY, headers=auth)
    assert revoked.status_code == 401
    assert rows(store) == 0


async def test_exhaustion_is_503_with_retry_after_until_one_frees(
    client: httpx.AsyncClient, access: AccessNumbers, store: Store
) -> None:
    auth = await bearer(access)
    body = {**BODY, "caller_number": None}  # unknown caller: each holds a number alone
    made = [await client.post("/api/v1/interactions", json=body, headers=auth) for _ in range(3)]
    assert [m.status_code for m in made] == [201, 201, 201]
    refused = await client.post("/api/v1/interactions", json=body, headers=auth)
    assert refused.status_code == 503 and refused.json()["error"] == "access.pool_exhausted"
    assert refused.headers["retry-after"] == "120"
    await client.delete(f"/api/v1/interactions/{made[0].json()['id']}", headers=auth)
    again = await client.post("/api/v1/interactions", json=body, headers=auth)
    assert again.status_code == 201
    assert rows(store) == 4


async def test_a_flood_past_the_rate_limit_is_429_with_retry_after(
    client: httpx.AsyncClient, access: AccessNumbers
) -> None:
    auth = await bearer(access, per_minute=5)
    codes = [
        (await client.get("/api/v1/interactions/ix_none", headers=auth)).status_code
        for _ in range(8)
    ]
    assert codes == [404] * 5 + [429] * 3
    limited = await client.get("/api/v1/interactions/ix_none", headers=auth)
    assert int(limited.headers["retry-after"]) >= 1


async def test_the_openapi_description_is_served(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    post = doc["paths"]["/api/v1/interactions"]["post"]
    assert {"201", "401", "422", "429", "503"} <= set(post["responses"])
    assert "InteractionRequest" in doc["components"]["schemas"]


async def test_each_reservation_request_is_audited_once_with_how_it_ended(
    client: httpx.AsyncClient, access: AccessNumbers, store: Store
) -> None:
    """Whatever its answer, a POST leaves exactly one access.api event naming its outcome
    (bad bodies, 413 and 422, included: they are refused after the key and its rate)."""
    auth = await bearer(access, per_minute=7)
    unknown = {**BODY, "caller_number": None}
    big = {**BODY, "context": {"x": "y" * 20_000}}
    sent = [
        ({**BODY, "caller_number": "12"}, auth, 422),
        (big, auth, 413),
        (BODY, {"authorization": "Bearer cti_ak_wrong"}, 401),
        ({**BODY, "pool": "x"}, auth, 403),
        *[(unknown, auth, 201)] * 3,
        (unknown, auth, 503),  # the pool's three numbers are held alone
        (unknown, auth, 429),  # the eighth the key's rate counts (7/min)
    ]
    for body, headers, status in sent:
        audited = len(store.events(kind="access.api", limit=100))
        answer = await client.post("/api/v1/interactions", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        [last, *older] = store.events(kind="access.api", limit=100)
        assert len(older) == audited
        assert last.details["outcome"] == ("granted" if status == 201 else answer.json()["error"])
    assert rows(store) == 3
