"""The admin console's bulk provisioning: agent workbooks uploaded, validated, fixed in the page
and applied; exports, the blank template, and password resets.

Parsing and validating run on worker threads, store work on the store's threads; an applied
import runs as a task this service owns (closed with it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from cti.admin import records
from cti.admin.history import AdminHistory
from cti.admin.imports import ImportBook, ImportSession
from cti.admin.sheet import (
    Sheet,
    SheetLimits,
    SheetRow,
    read_upload,
    template_xlsx,
    write_csv,
    write_xlsx,
)
from cti.admin.site_columns import SITE_SHEETS
from cti.admin.site_sheets import SiteApply, SiteSheets, no_site
from cti.admin.validate import ImportPlan, Rules, plan_import
from cti.config import ProvisioningSettings
from cti.errors import Conflict, CtiError, NotFound, ValidationFailed
from cti.store import Store

__all__ = ["Provisioning"]

log = logging.getLogger(__name__)

SITE_KEYS = {name: tuple(c.key for c in columns) for name, columns in SITE_SHEETS.items()}
# The cells an edit in the page may set (besides those the uploaded sheet has).
_KEYS = frozenset(
    (
        "action",
        "username",
        "first_name",
        "last_name",
        "email",
        "extension",
        "endpoint_secret",
        "groups",
        "role",
        "salesforce_user",
    )
)


class Provisioning:
    """Agent imports, exports and password resets."""

    def __init__(
        self,
        settings: ProvisioningSettings,
        store: Store,
        history: AdminHistory,
        refresh_directory: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._store = store
        self._history = history
        self._refresh = refresh_directory
        self._imports = ImportBook()
        self._site: SiteSheets | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.limits = SheetLimits(
            max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows
        )

    def use_site(self, site: SiteSheets) -> None:
        """Check and apply the workbook's locations and devices sheets with ``site``."""
        self._site = site

    async def close(self) -> None:
        """Cancel imports still being applied (their rows so far stay written)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def upload(self, data: bytes, filename: str, actor: str) -> ImportSession:
        sheet = await asyncio.to_thread(read_upload, data, filename[:200], self.limits)
        return await self._validate(sheet, actor)

    async def edit(
        self, import_id: str, rows: Sequence[dict[str, Any]], actor: str
    ) -> ImportSession:
        """Re-validate an import with cells fixed in the page (row number -> cells)."""
        session = self._imports.get(import_id, actor)
        fixed = _fixed_rows(rows)
        sheet = Sheet(
            session.sheet.filename,
            session.sheet.kind,
            session.sheet.columns,
            _apply_fixes(session.sheet.rows, fixed.get("agents", {}), _KEYS),
            {
                name: _apply_fixes(site_rows, fixed.get(name, {}), frozenset(SITE_KEYS[name]))
                for name, site_rows in session.sheet.extra.items()
            },
        )
        return await self._validate(sheet, actor)

    async def apply(self, import_id: str, actor: str) -> ImportSession:
        """Re-check the plan against the store as it is now, then apply it in the background."""
        session = self._imports.get(import_id, actor)
        if session.state != "validated":
            raise Conflict(f"this import is {session.state}", details={"state": session.state})
        fresh = await self._validate(session.sheet, actor)
        if not fresh.plan.ok:
            return fresh
        fresh.state = "applying"
        task = asyncio.get_running_loop().create_task(
            self._apply(fresh, actor), name=f"import-{fresh.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return fresh

    def status(self, import_id: str, actor: str) -> dict[str, Any]:
        """The import; the generated secrets only the first time they are asked for."""
        session = self._imports.get(import_id, actor)
        show = session.state == "applied" and not session.secrets_shown
        body = session.as_dict(with_secrets=show)
        if show:
            session.secrets_shown = True
            if session.result is not None:
                session.result.secrets.clear()
        return body

    def imported_users(self, import_id: str, actor: str) -> list[str]:
        """The usernames an applied import created or updated (to issue them signup links)."""
        session = self._imports.get(import_id, actor)
        if session.state != "applied":
            raise Conflict(
                f"this import is {session.state}; apply it first", details={"field": "import"}
            )
        users = [c.username for c in session.plan.changes if c.kind in ("create", "update")]
        if not users:
            raise ValidationFailed(
                "this import created or updated no user", details={"field": "import"}
            )
        return users

    async def export(self, kind: str) -> bytes:
        rows = await self._store.aio.run(records.export_rows, self._store)
        return write_csv(rows) if kind == "csv" else write_xlsx(rows)

    @staticmethod
    def template() -> bytes:
        return template_xlsx()

    async def reset_password(self, username: str, actor: str) -> str:
        """Give an agent a new login password (shown once)."""
        store = self._store
        if await store.aio.run(store.get_agent, username) is None:
            raise NotFound("no such agent", details={"username": username[:64]})
        password = records.new_secret()
        await store.aio.run(store.set_password, username, password)
        self._history.record("admin.password_reset", {"username": username}, actor)
        return password

    async def _validate(self, sheet: Sheet, actor: str) -> ImportSession:
        existing = await self._store.aio.run(records.existing_snapshot, self._store)
        rules = Rules(self._settings.extension_min, self._settings.extension_max, actor)
        started = time.perf_counter()
        plan = await asyncio.to_thread(plan_import, sheet, existing, rules)
        site_apply: SiteApply | None = None
        if any(sheet.extra.values()):
            users = _users_after(existing.agents, sheet.rows)
            if self._site is None:
                site_errors, site_apply = no_site(sheet.extra), None
            else:
                site_errors, site_apply = await self._site.check(sheet.extra, users)
            if site_errors:  # all or nothing: no change is planned while any sheet is wrong
                plan = ImportPlan(plan.errors + tuple(site_errors), ())
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("validated %d rows in %.1f ms", len(sheet.rows), elapsed_ms)
        return self._imports.add(actor, sheet, plan, elapsed_ms, site_apply)

    async def _apply(self, session: ImportSession, actor: str) -> None:
        def progress(done: int) -> None:
            session.done = done

        try:
            session.result = await self._store.aio.run(
                records.apply_plan,
                self._store,
                session.plan,
                realm=self._settings.sip_realm,
                actor=actor,
                filename=session.sheet.filename,
                progress=progress,
                also=session.site_apply,
            )
            session.state = "applied"
            await self._refresh()
        except CtiError as exc:
            session.state, session.error = "failed", exc.message


def _fixed_rows(rows: Sequence[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """Sheet -> row number -> cells of an edit (``sheet`` defaults to agents);
    ValidationFailed (422) for anything else, nothing kept."""
    fixed: dict[str, dict[int, dict[str, Any]]] = {}
    for index, entry in enumerate(rows):
        number, cells = entry.get("row"), entry.get("cells")
        sheet = entry.get("sheet", "agents")
        if (
            isinstance(number, bool)
            or not isinstance(number, int)
            or not isinstance(cells, dict)
            or sheet not in ("agents", *SITE_KEYS)
        ):
            raise ValidationFailed(
                "each edited row is {row: its number, cells: {column: text}, sheet?}",
                details={"index": index, "row": str(number)[:20]},
            )
        fixed.setdefault(sheet, {})[number] = cells
    return fixed


def _apply_fixes(
    rows: Sequence[SheetRow], fixed: dict[int, dict[str, Any]], keys: frozenset[str]
) -> list[SheetRow]:
    out = []
    for row in rows:
        cells = fixed.get(row.number)
        if cells is None:
            out.append(row)
            continue
        clean = {k: str(v).strip()[:1000] for k, v in cells.items() if k in row.cells or k in keys}
        out.append(SheetRow(row.number, clean))
    return out


def _users_after(existing: Mapping[str, Any], rows: Sequence[SheetRow]) -> frozenset[str]:
    """Who exists once the agents sheet is applied (for the devices sheet's users)."""
    users = set(existing)
    for row in rows:
        name, action = row.cells.get("username", ""), row.cells.get("action", "").lower()
        if action == "delete":
            users.discard(name)
        elif name:
            users.add(name)
    return frozenset(users)
