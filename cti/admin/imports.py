"""Imports in progress: each upload's sheet, its plan, and the apply's progress and results.

Kept in memory for an hour (an admin validates, fixes, dry-runs and applies in one sitting);
the store only changes on apply, and every apply is an ``admin.import`` event.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cti.admin.records import ApplyResult
from cti.admin.sheet import Sheet, SheetRow
from cti.admin.site_sheets import SiteApply
from cti.admin.validate import ImportPlan
from cti.errors import NotFound

__all__ = ["ImportBook", "ImportSession"]

State = Literal["validated", "applying", "applied", "failed"]
_TTL_S = 3600.0
_MAX_SESSIONS = 50
_SHOWN_ROWS = 2000  # rows sent to the page at once (errors are always sent)


@dataclass(slots=True)
class ImportSession:
    id: str
    owner: str
    sheet: Sheet
    plan: ImportPlan
    created_at: float
    validate_ms: float
    state: State = "validated"
    done: int = 0
    result: ApplyResult | None = None
    error: str | None = None
    secrets_shown: bool = False
    history: list[str] = field(default_factory=list)
    site_apply: SiteApply | None = None  # the site sheets' part of the apply

    def as_dict(self, *, with_secrets: bool = False) -> dict[str, Any]:
        plan = self.plan
        bad_rows = {e.row for e in plan.errors if e.sheet == "agents"}
        bad_site = {(e.sheet, e.row) for e in plan.errors if e.sheet != "agents"}
        rows = [r for r in self.sheet.rows if r.number in bad_rows] or self.sheet.rows
        body: dict[str, Any] = {
            "id": self.id,
            "file": self.sheet.filename,
            "kind": self.sheet.kind,
            "rows": len(self.sheet.rows),
            "validate_ms": round(self.validate_ms, 1),
            "state": self.state,
            "done": self.done,
            "ok": plan.ok,
            "errors": [e.as_dict() for e in plan.errors],
            "counts": plan.counts(),
            "changes": [c.as_dict() for c in plan.changes if c.kind != "ignore"][:_SHOWN_ROWS],
            "cells": [_row(r) for r in rows[:_SHOWN_ROWS]],
            "site_cells": {
                name: [_row(r) for r in site_rows if (name, r.number) in bad_site]
                for name, site_rows in self.sheet.extra.items()
            },
            "error": self.error,
        }
        if self.result is not None:
            body["result"] = {"counts": self.result.counts, "event_id": self.result.event_id}
            if with_secrets:
                body["result"]["secrets"] = dict(self.result.secrets)
        return body


def _row(row: SheetRow) -> dict[str, Any]:
    return {"row": row.number, "cells": row.cells}


class ImportBook:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, ImportSession] = {}
        self._clock = clock

    def add(
        self,
        owner: str,
        sheet: Sheet,
        plan: ImportPlan,
        validate_ms: float,
        site_apply: SiteApply | None = None,
    ) -> ImportSession:
        self._expire()
        session = ImportSession(
            secrets.token_urlsafe(12), owner, sheet, plan, self._clock(), validate_ms
        )
        session.site_apply = site_apply
        self._sessions[session.id] = session
        return session

    def get(self, import_id: str, owner: str) -> ImportSession:
        session = self._sessions.get(import_id)
        if session is None or session.owner != owner:
            raise NotFound("no such import (they last an hour)", details={"id": import_id[:40]})
        return session

    def _expire(self) -> None:
        now = self._clock()
        for key, session in list(self._sessions.items()):
            if now - session.created_at > _TTL_S and session.state != "applying":
                del self._sessions[key]
        while len(self._sessions) >= _MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.created_at)
            del self._sessions[oldest.id]
