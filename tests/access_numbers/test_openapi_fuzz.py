"""Schemathesis against the product's own OpenAPI description (/api/v1/openapi.json): cases
generated from it for every operation, sent with a valid key to the product's ASGI app (its
middleware, the real service on a SQLite store), each answer checked by schemathesis (no 5xx,
a status the description lists, a body matching the schema it gives for that status, its
content type; and bodies outside the schema are refused with 4xx). Bounded: MAX_EXAMPLES cases
per operation, no example database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import checks
from schemathesis.specs.openapi.schemas import OpenApiSchema

from agent_ui.access_api import access_api_routes
from agent_ui.hub import AgentHub
from agent_ui.web import create_app
from cti.access_numbers.rows import end_reservation
from cti.access_numbers.service import AccessNumbers
from cti.config import HttpSettings
from cti.principal import Principal
from cti.store import GroupSpec, Store
from tests.access_numbers.conftest import ROUTED, pool_spec

MAX_EXAMPLES = 60
ORIGIN = "http://testserver"  # the host of the test client schemathesis drives the app with


class _NoUsers:
    def verify(self, username: str, password: str) -> Principal | None:
        return None


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[tuple[OpenApiSchema, str, Store]]:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.upgrade()
    store.create_group(GroupSpec(name="Web", dids=ROUTED))
    access = AccessNumbers(store, default_region="GB")

    async def setup() -> str:
        await access.create_pool(pool_spec(), "admin")
        _, key = await access.issue_key("fuzz", ["web"], 100_000, "admin")
        return key

    key = asyncio.run(setup())
    app = create_app(
        authenticator=_NoUsers(),
        hub=AgentHub(lambda agent: []),
        http=HttpSettings(public_origin=ORIGIN),
        secret=SecretStr("x" * 40),
        on_agent_message=lambda *a: None,  # type: ignore[arg-type]
        routes=access_api_routes(access, "GB"),
    )
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app), key, store
    store.close()


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/interactions", "POST"),
        ("/api/v1/interactions/{id}", "GET"),
        ("/api/v1/interactions/{id}", "DELETE"),
    ],
)
def test_generated_requests_get_documented_answers(
    api_schema: tuple[OpenApiSchema, str, Store], path: str, method: str
) -> None:
    schema, key, store = api_schema
    operation = schema[path][method]
    auth = {"Authorization": f"Bearer {key}"}  # as written, so the ignored-auth check drops it
    statuses: list[int] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def check(case: schemathesis.Case[Any], data: st.DataObject) -> None:
        del data
        # JSON Schema cannot say "a phone number of the site's region" nor the context's byte
        # size and depth: a schema-valid body may get the documented 422 for those fields
        # alone (checked below in place of schemathesis' acceptance check).
        response = case.call_and_validate(
            headers=auth, excluded_checks=[checks.positive_data_acceptance]
        )
        statuses.append(response.status_code)
        if response.status_code == 201:  # free the number: a 503 here is then a failure
            with store.writing("test") as conn:
                end_reservation(conn, response.json()["id"], "cancelled", datetime.now(UTC))
        positive = case.meta is None or not case.meta.generation.mode.is_negative
        if response.status_code == 422 and positive:
            field = response.json()["details"]["field"]
            assert field in ("customer.phone", "caller_number", "context"), response.text

    check()
    assert statuses and max(statuses) < 500
    if method == "POST":  # the generator reached the store, not only the validation
        with store.reading("test") as conn:
            made = conn.exec_driver_sql("SELECT count(*) FROM access_reservations").scalar_one()
        assert 201 in statuses and made == statuses.count(201)
