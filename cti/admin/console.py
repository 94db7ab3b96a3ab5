"""The admin console as the web routes see it: every admin operation, wired to the daemon.

Built by the composition root with what it needs (store, sources, metrics registry, the
directory refresh); the routes in :mod:`agent_ui.admin` call it after checking the admin role.
Blocking work (the store, parsing a workbook, validating) runs on worker threads; AMI work on the
loop. Every change is written to the event history with its actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from cti.admin import records
from cti.admin.imports import ImportBook, ImportSession
from cti.admin.metrics import AdminMetrics
from cti.admin.pbxconf import GENERATED_FILES, ConfStyle, diff, generate
from cti.admin.servers import ServerRegistry, ServerSpec, SourceFactory
from cti.admin.sheet import (
    Sheet,
    SheetLimits,
    SheetRow,
    read_upload,
    template_xlsx,
    write_csv,
    write_xlsx,
)
from cti.admin.trunks import TrunkBook, TrunkChange
from cti.admin.validate import Rules, plan_import
from cti.config import AmiServerSettings, ProvisioningSettings
from cti.core.events import ContactStatusChanged, PbxEvent
from cti.core.updates import CallView
from cti.errors import AmiError, ConfigError, Conflict, CtiError, NotFound, ValidationFailed
from cti.secretbox import SecretBox
from cti.store import GroupSpec, Store
from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings
from pbx_adapters.asterisk.pjsip import PjsipAdmin
from pbx_adapters.asterisk.source import AsteriskSource

__all__ = ["AdminConsole"]

log = logging.getLogger(__name__)


class AdminConsole:
    def __init__(
        self,
        *,
        settings: ProvisioningSettings,
        config_servers: Sequence[AmiServerSettings],
        store: Store,
        registry: CollectorRegistry,
        sources: list[AsteriskSource],
        make_source: SourceFactory,
        refresh_directory: Callable[[], Awaitable[None]],
        active_calls: Callable[[], Sequence[CallView]],
        is_agent_endpoint: Callable[[str], bool],
        secrets: SecretBox,
    ) -> None:
        self.settings = settings
        self.store = store
        self._config_servers = {s.name: s for s in config_servers}
        self.servers = ServerRegistry(
            store,
            sources,
            make_source,
            secrets=secrets,
            config_hosts={s.name: (s.host, s.port, s.username, s.tls) for s in config_servers},
            on_removed=self._server_removed,
        )
        self.trunks = TrunkBook(is_agent_endpoint)
        self.metrics = AdminMetrics(registry)
        self.imports = ImportBook()
        self._refresh = refresh_directory
        self._active_calls = active_calls
        self._history: asyncio.Queue[tuple[str, dict[str, Any], str | None]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._admin_link: AmiConnection | None = None
        self.style = ConfStyle(
            realm=settings.sip_realm,
            context=settings.agent_context,
            endpoint_template=settings.endpoint_template,
            aor_template=settings.aor_template,
        )
        self.limits = SheetLimits(
            max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows
        )

    # ------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.servers.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write_history(), name="admin-history"),
            loop.create_task(self._poll_forever(), name="admin-poll"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        await self._drain_history()
        if self._admin_link is not None:
            await self._admin_link.close()
            self._admin_link = None

    def record(self, kind: str, details: dict[str, Any], actor: str | None) -> None:
        """Queue an event for the history; the writer task stores it (never on the read path)."""
        self._history.put_nowait((kind, details, actor))

    async def _write_history(self) -> None:
        while True:
            kind, details, actor = await self._history.get()
            await self._store_event(kind, details, actor)

    async def _drain_history(self) -> None:
        while not self._history.empty():
            kind, details, actor = self._history.get_nowait()
            await self._store_event(kind, details, actor)

    async def _store_event(self, kind: str, details: dict[str, Any], actor: str | None) -> None:
        try:
            await self.store.aio.run(self.store.record_event, kind, details, actor)
        except CtiError:
            log.exception("could not record the %s event", kind)

    # ------------------------------------------------------------------------ AMI events
    def on_event(self, event: PbxEvent) -> None:
        """The AMI read path: trunk contact status. Never blocks."""
        if isinstance(event, ContactStatusChanged):
            self._trunk_changes(self.trunks.contact_status(event))

    def _trunk_changes(self, changes: Sequence[TrunkChange]) -> None:
        for change in changes:
            self.metrics.trunk_events.labels(change.server, change.trunk, change.kind).inc()
            log.warning("trunk %s on %s: %s", change.trunk, change.server, change.kind)
            details = {"server": change.server, "trunk": change.trunk, **change.details}
            self.record(change.kind, details, None)

    def _server_removed(self, name: str) -> None:
        self.trunks.forget_server(name)

    async def _poll_forever(self) -> None:
        next_discovery = 0.0
        while True:
            self.servers.sample()
            if time.monotonic() >= next_discovery:
                next_discovery = time.monotonic() + self.settings.trunk_poll_s
                try:
                    await self.discover_trunks()
                except CtiError as exc:
                    log.info("trunk discovery skipped: %s", exc.message)
            await asyncio.sleep(min(2.0, self.settings.trunk_poll_s))

    # ------------------------------------------------------------------------ admin AMI
    def _admin_settings(self) -> AmiSettings:
        s = self.settings
        if not (s.admin_username and s.admin_secret and s.server):
            raise ConfigError(
                "no admin AMI credential: set [provisioning] server, admin_username and "
                "admin_secret (a manager.conf user with write = system)",
                details={"setting": "provisioning.admin_username"},
            )
        server = self._config_servers.get(s.server)
        spec = next((x for x in self.servers.stored() if x.name == s.server), None)
        if server is not None:
            host, port = server.host, server.port
        elif spec is not None:
            host, port = spec.host, spec.port
        else:
            raise ConfigError(f"provisioning.server {s.server} is not a known server")
        return AmiSettings(
            host=host,
            port=port,
            username=s.admin_username,
            secret=s.admin_secret.get_secret_value(),
            events="off",
            backoff_base_s=0.5,
            backoff_cap_s=10.0,
        )

    async def _admin(self) -> PjsipAdmin:
        if self._admin_link is None:
            self._admin_link = AmiConnection("admin", self._admin_settings(), lambda f, t: None)
            await self._admin_link.start()
        await self._admin_link.wait_ready(5.0)
        return PjsipAdmin(self._admin_link)

    async def discover_trunks(self) -> None:
        """List the trunks of the provisioning server (admin credential) with their contacts."""
        admin = await self._admin()
        server = self.settings.server
        assert server is not None
        now = time.time()
        for endpoint in await admin.endpoints():
            if endpoint.is_trunk:
                detail = await admin.trunk_detail(endpoint.name)
                self._trunk_changes(self.trunks.discovered(server, detail, now))
        for registration in await admin.registrations():
            self._trunk_changes(self.trunks.registration(server, registration, now))

    # ------------------------------------------------------------------------ trunks
    def trunk_status(self) -> list[dict[str, Any]]:
        calls: dict[tuple[str, str], int] = {}
        for call in self._active_calls():
            if call.trunk:
                key = (call.server, call.trunk)
                calls[key] = calls.get(key, 0) + 1
        out = []
        for trunk in self.trunks.states():
            count = calls.get((trunk.server, trunk.name), 0)
            reachable = trunk.reachable
            labels = (trunk.server, trunk.name)
            self.metrics.trunk_calls.labels(*labels).set(count)
            if reachable is not None:
                self.metrics.trunk_reachable.labels(*labels).set(1 if reachable else 0)
            rtt = trunk.rtt_ms
            if rtt is not None:
                self.metrics.trunk_rtt.labels(*labels).set(rtt / 1000)
            out.append(
                {
                    "server": trunk.server,
                    "name": trunk.name,
                    "reachable": reachable,
                    "state": {True: "reachable", False: "unreachable", None: "unknown"}[reachable],
                    "rtt_ms": rtt,
                    "registration": trunk.registration,
                    "matches": list(trunk.matches),
                    "qualify_s": trunk.qualify_s,
                    "calls": count,
                    "contacts": [
                        {"uri": c.uri, "status": c.status, "rtt_ms": c.rtt_ms, "since": c.since}
                        for c in trunk.contacts.values()
                    ],
                }
            )
        return out

    def refresh_metrics(self) -> None:
        """Bring the trunk and server gauges up to date (GET /metrics calls this)."""
        self.trunk_status()
        for server in self.servers.status():
            self.metrics.ami_events_per_second.labels(server["name"]).set(
                server["events_per_second"]
            )
            self.metrics.ami_resyncs.labels(server["name"]).set(server["resyncs"])

    # ------------------------------------------------------------------------ servers
    async def add_server(self, spec: ServerSpec, actor: str) -> None:
        await self.servers.add(spec)
        self.record("admin.server_added", _server_details(spec), actor)

    async def update_server(self, name: str, spec: ServerSpec, actor: str) -> None:
        await self.servers.update(name, spec)
        self.record("admin.server_changed", {"was": name, **_server_details(spec)}, actor)

    async def remove_server(self, name: str, actor: str) -> None:
        await self.servers.remove(name)
        self.record("admin.server_removed", {"name": name}, actor)

    # ------------------------------------------------------------------------ groups, DIDs
    async def dids(self) -> list[dict[str, Any]]:
        groups = await self.store.aio.run(self.store.groups)
        return [
            {
                "group": g.name,
                "dids": list(g.spec.dids),
                "queues": list(g.spec.queues),
                "members": len(g.spec.members),
                "custom_template": g.spec.template is not None,
            }
            for g in groups
        ]

    async def create_group(
        self, name: str, dids: Sequence[str], template: str | None, actor: str
    ) -> None:
        """Create a group with its own generated queue (``cti-<name>``) and its DIDs."""
        queue = "cti-" + "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        spec = GroupSpec(name=name, dids=tuple(_did(d) for d in dids), queues=(queue[:128],))
        if template is not None:
            spec = GroupSpec(name=spec.name, dids=spec.dids, queues=spec.queues, template=template)
        await self.store.aio.run(self.store.create_group, spec)
        self.record(
            "admin.group_created", {"group": name, "dids": list(spec.dids), "queue": queue}, actor
        )
        await self._refresh()

    async def map_did(self, did: str, group: str | None, actor: str) -> None:
        """Map ``did`` to ``group`` (None: unmap it), moving it from any other group."""
        did = _did(did)
        groups = await self.store.aio.run(self.store.groups)
        if group is not None and group not in {g.name for g in groups}:
            raise NotFound("no such group", details={"group": group})
        for info in groups:
            spec = info.spec
            has = did in spec.dids
            wants = info.name == group
            if has != wants:
                new = tuple(d for d in spec.dids if d != did) + ((did,) if wants else ())
                await self.store.aio.run(self.store.update_group, info.name, _with_dids(spec, new))
        self.record("admin.did_mapped", {"did": did, "group": group}, actor)
        await self._refresh()

    # ------------------------------------------------------------------------ imports
    async def upload(self, data: bytes, filename: str, actor: str) -> ImportSession:
        sheet = await asyncio.to_thread(read_upload, data, filename[:200], self.limits)
        return await self._validate(sheet, actor)

    async def _validate(self, sheet: Sheet, actor: str) -> ImportSession:
        existing = await self.store.aio.run(records.existing_snapshot, self.store)
        rules = Rules(self.settings.extension_min, self.settings.extension_max, actor)
        started = time.perf_counter()
        plan = await asyncio.to_thread(plan_import, sheet, existing, rules)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("validated %d rows in %.1f ms", len(sheet.rows), elapsed_ms)
        return self.imports.add(actor, sheet, plan, elapsed_ms)

    async def edit(
        self, import_id: str, rows: Sequence[dict[str, Any]], actor: str
    ) -> ImportSession:
        """Re-validate an import with cells fixed in the page (row number -> cells)."""
        session = self.imports.get(import_id, actor)
        fixed = {int(r["row"]): r["cells"] for r in rows if isinstance(r.get("cells"), dict)}
        new_rows = []
        for row in session.sheet.rows:
            cells = fixed.get(row.number)
            if cells is None:
                new_rows.append(row)
                continue
            clean = {
                k: str(v).strip()[:1000] for k, v in cells.items() if k in row.cells or k in _KEYS
            }
            new_rows.append(SheetRow(row.number, clean))
        sheet = Sheet(session.sheet.filename, session.sheet.kind, session.sheet.columns, new_rows)
        return await self._validate(sheet, actor)

    async def apply_import(self, import_id: str, actor: str) -> ImportSession:
        """Re-check the plan against the store as it is now, then apply it in the background."""
        session = self.imports.get(import_id, actor)
        if session.state != "validated":
            raise Conflict(f"this import is {session.state}", details={"state": session.state})
        fresh = await self._validate(session.sheet, actor)
        if not fresh.plan.ok:
            return fresh
        fresh.state = "applying"

        def progress(done: int) -> None:
            fresh.done = done

        async def run() -> None:
            try:
                fresh.result = await self.store.aio.run(
                    records.apply_plan,
                    self.store,
                    fresh.plan,
                    realm=self.settings.sip_realm,
                    actor=actor,
                    filename=fresh.sheet.filename,
                    progress=progress,
                )
                fresh.state = "applied"
                await self._refresh()
            except CtiError as exc:
                fresh.state, fresh.error = "failed", exc.message

        task = asyncio.get_running_loop().create_task(run(), name=f"import-{fresh.id}")
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)
        return fresh

    def import_status(self, import_id: str, actor: str) -> dict[str, Any]:
        """The import; the generated secrets only the first time they are asked for."""
        session = self.imports.get(import_id, actor)
        show = session.state == "applied" and not session.secrets_shown
        body = session.as_dict(with_secrets=show)
        if show:
            session.secrets_shown = True
            if session.result is not None:
                session.result.secrets.clear()
        return body

    async def export(self, kind: str) -> bytes:
        rows = await self.store.aio.run(records.export_rows, self.store)
        return write_csv(rows) if kind == "csv" else write_xlsx(rows)

    @staticmethod
    def template() -> bytes:
        return template_xlsx()

    async def reset_password(self, username: str, actor: str) -> str:
        """Give an agent a new login password (shown once)."""
        if await self.store.aio.run(self.store.get_agent, username) is None:
            raise NotFound("no such agent", details={"username": username[:64]})
        password = records.new_secret()
        await self.store.aio.run(self.store.set_password, username, password)
        self.record("admin.password_reset", {"username": username}, actor)
        return password

    # ------------------------------------------------------------------------ config
    def _config_dir(self) -> Path | None:
        return self.settings.config_dir

    async def config_preview(self) -> dict[str, Any]:
        agents = await self.store.aio.run(records.provisioned_agents, self.store)
        groups = await self.store.aio.run(records.group_routings, self.store)
        files = generate(agents, groups, self.style)
        current = await asyncio.to_thread(self._read_current)
        return {
            "files": files,
            "diffs": diff(current, files),
            "config_dir": str(self._config_dir()) if self._config_dir() else None,
            "can_write": self._config_dir() is not None,
            "can_reload": bool(self.settings.admin_username and self.settings.server),
            "agents": len(agents),
        }

    def _read_current(self) -> dict[str, str | None]:
        directory = self._config_dir()
        out: dict[str, str | None] = {}
        for name in GENERATED_FILES:
            path = directory / name if directory else None
            out[name] = path.read_text() if path is not None and path.is_file() else None
        return out

    async def apply_config(self, actor: str, *, reload: bool = True) -> dict[str, Any]:
        """Write the changed include files, then reload Asterisk through the admin credential."""
        directory = self._config_dir()
        if directory is None:
            raise ConfigError("set [provisioning] config_dir to write the generated files")
        preview = await self.config_preview()
        changed = sorted(preview["diffs"])
        await asyncio.to_thread(_write_files, directory, {n: preview["files"][n] for n in changed})
        answers: list[str] = []
        error = None
        if reload and changed:
            try:
                answers = await (await self._admin()).reload()
            except (AmiError, ConfigError) as exc:
                error = exc.message
        details = {"files": changed, "reload": answers, "error": error}
        self.record("admin.config_applied", details, actor)
        return {"changed": changed, "reloaded": answers, "reload_error": error}

    # ------------------------------------------------------------------------ audit
    async def audit(self, limit: int = 200, kind: str | None = None) -> list[dict[str, Any]]:
        entries = await self.store.aio.run(self.store.events, kind=kind, limit=limit)
        return [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "kind": e.kind,
                "details": e.details,
            }
            for e in entries
        ]


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


def _did(text: str) -> str:
    did = text.strip().removeprefix("+")
    if not did.isdigit() or not 2 <= len(did) <= 32:
        raise ValidationFailed(
            "a DID is 2 to 32 digits (an optional + dropped)", details={"did": text[:40]}
        )
    return did


def _with_dids(spec: GroupSpec, dids: tuple[str, ...]) -> GroupSpec:
    return GroupSpec(
        name=spec.name,
        trigger=spec.trigger,
        dispositions=spec.dispositions,
        wrapup_seconds=spec.wrapup_seconds,
        template=spec.template,
        members=spec.members,
        supervisors=spec.supervisors,
        dids=dids,
        queues=spec.queues,
    )


def _server_details(spec: ServerSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "host": spec.host,
        "port": spec.port,
        "username": spec.username,
        "tls": spec.tls,
    }


def _write_files(directory: Path, files: dict[str, str]) -> None:
    """Write each file atomically (temporary file, then rename), readable by Asterisk."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(temp, 0o644)
            os.replace(temp, directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
