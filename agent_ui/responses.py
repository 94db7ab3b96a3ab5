"""Answers that no browser or proxy may keep: every API response carries ``NO_STORE``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["NO_STORE", "no_store_json"]

NO_STORE = {"cache-control": "no-store"}


def no_store_json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)
