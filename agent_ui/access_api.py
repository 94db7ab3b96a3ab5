"""The access-number API for companies' backends: ``/api/v1/interactions`` and its OpenAPI.

Callers authenticate with an API key an admin issued (``Authorization: Bearer cti_ak_...``);
no cookie is involved, so there is no CSRF to check. The request and response bodies are the
pydantic models below, which also generate the OpenAPI description served at
``/api/v1/openapi.json``. Errors are the product's JSON errors (``error`` is a stable id): 401
``access.key_rejected``, 403 ``access.out_of_scope``, 404 ``not_found``, 413
``request.too_large``, 422 ``request.invalid`` (``details.field`` names the field), 429
``rate_limited`` and 503 ``access.pool_exhausted``, the last two with ``Retry-After``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.json_body import read_body
from agent_ui.responses import NO_STORE
from cti.access_numbers.service import AccessNumbers, ReservationRequest
from cti.access_numbers.values import Interaction
from cti.errors import CtiError, ValidationFailed
from cti.numbers import RegionSource, region_source, to_e164

__all__ = ["MAX_CONTEXT_BYTES", "access_api_routes", "openapi_document"]

MAX_CONTEXT_BYTES = 4096
_MAX_DEPTH = 4
_BODY_LIMIT = 16 * 1024


_PHONE = r"^[+(0-9][0-9 ().-]*$"  # the characters of a phone number; phonenumbers says if it is one


class Customer(BaseModel):
    """Who the customer is: a phone number, a CRM id, or both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # the rule _request checks, said in the description too
            "anyOf": [
                {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
                {"required": ["crm_id"], "properties": {"crm_id": {"type": "string"}}},
            ]
        },
    )
    phone: str | None = Field(None, max_length=32, pattern=_PHONE, examples=["+447700900123"])
    crm_id: str | None = Field(None, min_length=1, max_length=128, examples=["003A000001"])


class InteractionRequest(BaseModel):
    """A customer asks to talk to someone; ``context`` is what they were doing.

    The well-known context keys ``who``, ``page``, ``order`` and ``intent`` (text) show on the
    agent's pop; the whole context (a JSON object of at most 4096 bytes, 4 levels deep) goes
    with it.
    """

    model_config = ConfigDict(extra="forbid")
    pool: str | None = Field(
        None, max_length=64, description="The pool to reserve from; optional for a key of one pool"
    )
    customer: Customer
    caller_number: str | None = Field(
        None,
        max_length=32,
        pattern=_PHONE,
        description="The number the customer will call from, if known (then the number may "
        "be shared with other callers; unknown, it is held for this customer alone)",
    )
    context: dict[str, JsonValue] = Field(
        default_factory=dict, examples=[{"intent": "refund", "order": "A-1042", "page": "/orders"}]
    )


class ReservedNumber(BaseModel):
    e164: str = Field(examples=["+442079461001"])
    display: str = Field(examples=["020 7946 1001"])


class InteractionResponse(BaseModel):
    id: str
    pool: str
    state: Literal["live", "matched", "expired", "cancelled"]
    number: ReservedNumber
    created_at: datetime
    expires_at: datetime
    caller_number: str | None
    call_id: str | None = None


class ErrorResponse(BaseModel):
    error: str = Field(description="A stable id, e.g. access.pool_exhausted")
    message: str
    details: dict[str, JsonValue]


def _depth(value: object, level: int = 1) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level - 1


def _request(raw: bytes, region: str) -> ReservationRequest:
    try:
        body = InteractionRequest.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        message = (
            f"{where} is not a phone number"
            if first["type"] == "string_pattern_mismatch"
            else f"{where}: {first['msg']}"
        )
        raise ValidationFailed(
            message, details={"field": where, "errors": exc.error_count()}
        ) from None
    size = len(json.dumps(body.context, ensure_ascii=False).encode())
    if size > MAX_CONTEXT_BYTES or _depth(body.context) > _MAX_DEPTH:
        raise ValidationFailed(
            f"the context is at most {MAX_CONTEXT_BYTES} bytes of JSON, {_MAX_DEPTH} levels deep",
            details={"field": "context", "bytes": size},
        )
    if body.customer.phone is None and body.customer.crm_id is None:
        raise ValidationFailed("give the customer's phone or CRM id", details={"field": "customer"})
    return ReservationRequest(
        pool=body.pool,
        customer_phone=_number(body.customer.phone, region, "customer.phone"),
        customer_crm_id=body.customer.crm_id,
        caller=_number(body.caller_number, region, "caller_number"),
        context=body.context,
    )


def _number(raw: str | None, region: str, field: str) -> str | None:
    if raw is None:
        return None
    e164 = to_e164(raw, region)
    if e164 is None:
        raise ValidationFailed(f"{field} is not a phone number", details={"field": field})
    return e164


def _display(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def interaction_body(found: Interaction) -> dict[str, Any]:
    out = InteractionResponse(
        id=found.id,
        pool=found.pool,
        state=found.state,
        number=ReservedNumber(e164=found.e164, display=_display(found.e164)),
        created_at=found.created_at,
        expires_at=found.expires_at,
        caller_number=found.caller,
        call_id=found.call_id,
    )
    return out.model_dump(mode="json")


def _error(exc: CtiError) -> Response:
    headers = dict(NO_STORE)
    retry = exc.details.get("retry_after_s")
    if isinstance(retry, int | float):
        headers["retry-after"] = str(max(1, math.ceil(retry)))
    return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)


class _InteractionApi:
    def __init__(self, access: AccessNumbers, region: str | RegionSource) -> None:
        self.access, self._regions = access, region_source(region)  # admins may change it

    @property
    def region(self) -> str:
        """The site's default region now: an admin's change applies to the next request."""
        return self._regions.default_region()

    async def _key(self, request: Request, what: str) -> Any:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        return await self.access.authenticate(
            key.strip() if scheme.lower() == "bearer" else None, what
        )

    async def create(self, request: Request) -> Response:
        """Read and check the body, then hand it to the service, which checks the key and its
        rate first: 401 and 429 come before 413 and 422, and every refusal is audited."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        try:
            wanted: ReservationRequest | CtiError = _request(
                await read_body(request, _BODY_LIMIT), self._regions.default_region()
            )
        except CtiError as exc:  # 422, or 413 past the body's limit
            wanted = exc
        try:
            found = await self.access.reserve_request(
                key.strip() if scheme.lower() == "bearer" else None, wanted
            )
        except CtiError as exc:
            return _error(exc)
        return JSONResponse(interaction_body(found), status_code=201, headers=NO_STORE)

    async def get(self, request: Request) -> Response:
        try:
            key = await self._key(request, "get")
            found = await self.access.interaction(key, request.path_params["id"])
        except CtiError as exc:
            return _error(exc)
        return JSONResponse(interaction_body(found), headers=NO_STORE)

    async def delete(self, request: Request) -> Response:
        try:
            key = await self._key(request, "cancel")
            found = await self.access.cancel(key, request.path_params["id"])
        except CtiError as exc:
            return _error(exc)
        return JSONResponse(interaction_body(found), headers=NO_STORE)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the interactions API, generated from the models."""
    models: list[type[BaseModel]] = [InteractionRequest, InteractionResponse, ErrorResponse]
    _, schemas = models_json_schema(
        [(m, "validation" if m is InteractionRequest else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
    )

    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def error(description: str, retry: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": ref("ErrorResponse")}},
        }
        if retry:
            out["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        return out

    common = {
        "401": error("access.key_rejected: no key, an unknown or a revoked key"),
        "429": error("rate_limited: too many requests with this key", retry=True),
    }
    one = {
        "200": {
            "description": "The interaction",
            "content": {"application/json": {"schema": ref("InteractionResponse")}},
        },
        "404": error("not_found: no such interaction for this key"),
        **common,
    }
    path_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "CTI access numbers", "version": "1"},
        "paths": {
            "/api/v1/interactions": {
                "post": {
                    "summary": "Reserve a number for a customer who wants to call",
                    "operationId": "createInteraction",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ref("InteractionRequest")}},
                    },
                    "responses": {
                        "201": {
                            "description": "The number reserved, until expires_at",
                            "content": {"application/json": {"schema": ref("InteractionResponse")}},
                        },
                        "403": error("access.out_of_scope: the key may not use that pool"),
                        "404": error("not_found: no such pool"),
                        "413": error("request.too_large: the body passes 16 KiB"),
                        "422": error("request.invalid: details.field names the bad field"),
                        "503": error("access.pool_exhausted: try again later", retry=True),
                        **common,
                    },
                }
            },
            "/api/v1/interactions/{id}": {
                "parameters": path_id,
                "get": {
                    "summary": "An interaction",
                    "operationId": "getInteraction",
                    "responses": one,
                },
                "delete": {
                    "summary": "Cancel a live reservation (its number frees at once)",
                    "operationId": "cancelInteraction",
                    "responses": one,
                },
            },
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }


def access_api_routes(access: AccessNumbers, default_region: str | RegionSource) -> list[BaseRoute]:
    """The company-backend API routes, for ``create_app(routes=...)``."""
    api = _InteractionApi(access, default_region)
    return [
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
        Route("/api/v1/interactions", api.create, methods=["POST"]),
        Route("/api/v1/interactions/{id}", api.get, methods=["GET"]),
        Route("/api/v1/interactions/{id}", api.delete, methods=["DELETE"]),
    ]
