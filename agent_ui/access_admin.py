"""The admin console's access-number API: pools, API keys, status (admins only).

Reads need a session with :attr:`Action.ADMINISTER_PBX`; writes also pass the origin and CSRF
checks. A key is in the response of the request that issued it and never again.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agent_ui.admin_access import admin_reader as _reader
from agent_ui.admin_access import admin_writer as _writer
from agent_ui.json_body import read_json
from agent_ui.responses import NO_STORE
from agent_ui.responses import no_store_json as _json
from cti.access_numbers.service import AccessNumbers
from cti.access_numbers.values import DEFAULT_HOLD_S, AccessNumber, PoolSpec
from cti.errors import ValidationFailed
from cti.numbers import RegionSource, region_source, to_e164

__all__ = ["access_admin_routes"]


def _int(body: dict[str, object], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{key} is a whole number", details={"field": key})
    return value


def _numbers(value: object, region: str) -> tuple[AccessNumber, ...]:
    """DIDs as text (``442079461001``, read as E.164 with a ``+``) or ``{did, e164}`` objects."""
    if not isinstance(value, list):
        raise ValidationFailed("numbers is a list of DIDs", details={"field": "numbers"})
    out = []
    for item in value:
        did, e164 = (item.get("did"), item.get("e164")) if isinstance(item, dict) else (item, None)
        if not isinstance(did, str):
            raise ValidationFailed("a DID is text", details={"field": "numbers"})
        did = did.strip()
        if not isinstance(e164, str) or not e164:
            e164 = to_e164(did if did.startswith("+") else "+" + did, region) or ""
        out.append(AccessNumber(did.lstrip("+"), e164))
    return tuple(out)


def _spec(body: dict[str, object], region: str, name: str | None = None) -> PoolSpec:
    group = body.get("group")
    purpose = body.get("purpose", "")
    policy = body.get("policy", "refuse")
    if group is not None and not isinstance(group, str):
        raise ValidationFailed("group is text", details={"field": "group"})
    if not isinstance(purpose, str) or not isinstance(policy, str):
        raise ValidationFailed("purpose and policy are text", details={"field": "policy"})
    raw_name = name if name is not None else body.get("name")
    if not isinstance(raw_name, str):
        raise ValidationFailed("name is required (text)", details={"field": "name"})
    return PoolSpec(
        name=raw_name,
        numbers=_numbers(body.get("numbers"), region),
        purpose=purpose,
        group=group or None,
        hold_seconds=_int(body, "hold_seconds", DEFAULT_HOLD_S),
        policy=policy,  # type: ignore[arg-type]
    )


class _AccessAdminApi:
    def __init__(self, access: AccessNumbers, region: str | RegionSource) -> None:
        self.access, self._regions = access, region_source(region)  # admins may change it

    async def pools(self, request: Request) -> Response:
        _reader(request)
        return _json({"pools": [p.as_dict() for p in await self.access.pools()]})

    async def create_pool(self, request: Request) -> Response:
        actor = _writer(request)
        await self.access.create_pool(
            _spec(await read_json(request), self._regions.default_region()), actor.username
        )
        await self.access.refresh()
        return _json({"ok": True}, 201)

    async def update_pool(self, request: Request) -> Response:
        actor = _writer(request)
        name = request.path_params["name"]
        spec = _spec(await read_json(request), self._regions.default_region(), name)
        await self.access.update_pool(name, spec, actor.username)
        await self.access.refresh()
        return _json({"ok": True})

    async def delete_pool(self, request: Request) -> Response:
        actor = _writer(request)
        await self.access.delete_pool(request.path_params["name"], actor.username)
        await self.access.refresh()
        return _json({"ok": True})

    async def keys(self, request: Request) -> Response:
        _reader(request)
        return _json({"keys": [k.as_dict() for k in await self.access.keys()]})

    async def issue_key(self, request: Request) -> Response:
        actor = _writer(request)
        body = await read_json(request)
        name, pools = body.get("name"), body.get("pools")
        if not isinstance(name, str):
            raise ValidationFailed("name is required (text)", details={"field": "name"})
        if not isinstance(pools, list) or not all(isinstance(p, str) for p in pools):
            raise ValidationFailed("pools is a list of pool names", details={"field": "pools"})
        per_minute = _int(body, "per_minute", 600)
        info, key = await self.access.issue_key(name, pools, per_minute, actor.username)
        return _json({**info.as_dict(), "key": key}, 201)

    async def revoke_key(self, request: Request) -> Response:
        actor = _writer(request)
        try:
            key_id = int(request.path_params["id"])
        except ValueError as exc:
            raise ValidationFailed("a key id is a number", details={"field": "id"}) from exc
        return _json((await self.access.revoke_key(key_id, actor.username)).as_dict())

    async def status(self, request: Request) -> Response:
        _reader(request)
        status = [s.as_dict() for s in await self.access.status()]
        return Response(
            json.dumps({"pools": status}), media_type="application/json", headers=NO_STORE
        )


def access_admin_routes(
    access: AccessNumbers, default_region: str | RegionSource
) -> list[BaseRoute]:
    """The admin console's access-number routes, for ``create_app(routes=...)``."""
    api = _AccessAdminApi(access, default_region)
    base = "/api/admin/access"
    return [
        Route(f"{base}/pools", api.pools, methods=["GET"]),
        Route(f"{base}/pools", api.create_pool, methods=["POST"]),
        Route(f"{base}/pools/{{name}}", api.update_pool, methods=["PUT"]),
        Route(f"{base}/pools/{{name}}", api.delete_pool, methods=["DELETE"]),
        Route(f"{base}/keys", api.keys, methods=["GET"]),
        Route(f"{base}/keys", api.issue_key, methods=["POST"]),
        Route(f"{base}/keys/{{id}}", api.revoke_key, methods=["DELETE"]),
        Route(f"{base}/status", api.status, methods=["GET"]),
    ]
