"""Reading the small JSON bodies and query strings of the desktop's API, with their limits.

Every failure is a :class:`~cti.errors.ValidationFailed` (422) naming the field, or
:class:`~cti.errors.PayloadTooLarge` (413): the browser shows the message as it is.
"""

from __future__ import annotations

import json

from starlette.requests import Request

from cti.errors import PayloadTooLarge, ValidationFailed

__all__ = [
    "MAX_BODY_BYTES",
    "optional_text",
    "query_text",
    "read_body",
    "read_json",
    "required_text",
]

MAX_BODY_BYTES = 16 * 1024


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, object]:
    """Return the request's JSON object body; refuse other types, bad JSON and big bodies."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ValidationFailed("send a JSON body", details={"got": kind[:60]})
    body = await read_body(request, limit)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed("the body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ValidationFailed("the body must be a JSON object")
    return parsed


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the raw body; 413 as soon as it (or its declared length) passes ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the body is {_size(int(declared))}; the limit is {_size(limit)}",
            details={"bytes": int(declared), "limit": limit},
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the body is larger than {_size(limit)}", details={"limit": limit}
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1_000_000 else f"{count / 1024:.0f} KiB"


def required_text(fields: dict[str, object], name: str, limit: int) -> str:
    """Return ``fields[name]`` stripped: 1 to ``limit`` printable characters."""
    value = fields.get(name)
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} is required (text)", details={"field": name})
    text = value.strip()
    if not 0 < len(text) <= limit or not text.isprintable():
        raise ValidationFailed(
            f"{name} must be 1 to {limit} printable characters",
            details={"field": name, "limit": limit},
        )
    return text


def optional_text(fields: dict[str, object], name: str, limit: int) -> str | None:
    """Return ``fields[name]`` stripped, or None when absent, null or blank."""
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return required_text(fields, name, limit)


def query_text(request: Request, name: str, limit: int) -> str | None:
    """Return a query parameter stripped (None if absent or blank), at most ``limit`` chars."""
    value = request.query_params.get(name)
    if value is None or not value.strip():
        return None
    return required_text({name: value}, name, limit)
