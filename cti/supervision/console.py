"""The supervisor console: agent groups, their pop templates (versions, preview, publish, roll
back) and the live view, with who may do what.

Access: a supervisor sees and changes only the groups they own (``group_supervisors``), an admin
every group, an agent none (:attr:`Action.SUPERVISE_GROUPS`). Every change is one store
transaction with its audit event (:mod:`cti.store.supervision`); publishing rebuilds the
daemon's directory at once, so the next pop uses the version. Previews and publish checks use
the production renderer class with the production limits, on a worker thread.

Live view: :class:`~cti.supervision.live.GroupMonitor` is fed on the AMI read path and
:class:`~cti.supervision.feed.LiveFeed` pushes each group's state to its online owners.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from crm_connectors.base import CrmConnector, LookupOptions
from cti.core.events import PbxEvent
from cti.core.updates import CallUpdate, CallView
from cti.errors import CrmError, NotFound, PermissionDenied, TemplateError, ValidationFailed
from cti.numbers import RegionSource, region_source, to_e164
from cti.pop.directory import Directory
from cti.pop.render import PopRenderer
from cti.pop.versions import (
    FIELDS,
    LAYOUTS,
    SAMPLE_KINDS,
    STANDARD_TEMPLATE,
    PopSettings,
    diff_versions,
    preview_context,
    publish_problems,
    published_source,
    sample_context,
)
from cti.principal import Action, Principal, Role, require
from cti.store import Store
from cti.store import supervision as rows
from cti.store.supervision import TemplateVersion
from cti.store.values import GroupInfo, GroupSpec, WrapupScope
from cti.supervision.feed import LiveFeed, PopCounter, QueuesToday, SupervisorNotifier
from cti.supervision.live import GroupMonitor

__all__ = ["PopCounter", "SupervisorConsole", "SupervisorNotifier"]

log = logging.getLogger(__name__)

Refresh = Callable[[], Awaitable[None]]
_OWNER_ROLES = (Role.SUPERVISOR, Role.ADMIN)  # who may own a group


class SupervisorConsole:
    """Everything behind the supervisor console's pages and API."""

    def __init__(
        self,
        *,
        store: Store,
        notifier: SupervisorNotifier,
        crm: CrmConnector,
        directory: Callable[[], Directory],
        calls: Callable[[], Sequence[CallView]],
        refresh_directory: Refresh,
        default_region: str | RegionSource,
        wrapups: Callable[[str], tuple[float, float | None] | None] = lambda user: None,
        lookup_options: LookupOptions | None = None,
        tick_s: float = 0.5,
        heartbeat_s: float = 10.0,
        groups_every_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        today: QueuesToday | None = None,
    ) -> None:
        self.store, self.crm = store, crm
        self._refresh_directory = refresh_directory
        self._regions = region_source(default_region)  # read at each use: admins may change it
        self._options = lookup_options or LookupOptions()
        self.renderer = PopRenderer(quarantine_s=0)  # the production limits; always really run
        monitor = GroupMonitor(
            calls=calls,
            directory=directory,
            online=notifier.is_online,
            wrapups=wrapups,
            clock=clock,
        )
        self.feed = LiveFeed(
            store=store,
            notifier=notifier,
            monitor=monitor,
            tick_s=tick_s,
            heartbeat_s=heartbeat_s,
            groups_every_s=groups_every_s,
            today=today,
        )

    # ---------------------------------------------------------------------------- access
    @staticmethod
    def may_edit(principal: Principal, group: GroupInfo) -> bool:
        return principal.role is Role.ADMIN or (
            principal.role is Role.SUPERVISOR and principal.username in group.spec.supervisors
        )

    async def groups_of(self, principal: Principal) -> list[GroupInfo]:
        """The groups ``principal`` may see and change (all of them for an admin)."""
        require(principal, Action.SUPERVISE_GROUPS)
        groups = await self.store.aio.run(self.store.groups)
        return [g for g in groups if self.may_edit(principal, g)]

    async def group(self, principal: Principal, name: str) -> GroupInfo:
        """Group ``name`` if ``principal`` owns it (or is an admin); 404 / 403 otherwise."""
        require(principal, Action.SUPERVISE_GROUPS)
        info = await self.store.aio.run(self.store.get_group, name)
        if info is None:
            raise NotFound("no such group", details={"group": name[:80]})
        if not self.may_edit(principal, info):
            raise PermissionDenied("you do not supervise this group", details={"group": name[:80]})
        return info

    # ---------------------------------------------------------------------------- groups
    async def overview(self, principal: Principal) -> dict[str, Any]:
        """The principal's groups, the agents to pick from, and every DID/trunk mapping."""
        groups = await self.groups_of(principal)
        everyone = await self.store.aio.run(self.store.groups)
        agents = await self.store.aio.run(self.store.agents)
        trunks = await self.store.aio.run(rows.trunk_mappings, self.store)
        return {
            "user": {"username": principal.username, "role": str(principal.role)},
            "groups": [self._group_json(g, trunks) for g in groups],
            "agents": [
                {"username": a.username, "name": a.name, "role": str(a.role), "active": a.active}
                for a in agents
            ],
            "did_map": sorted(
                ({"did": did, "group": g.name} for g in everyone for did in g.spec.dids),
                key=lambda row: row["did"],
            ),
            "trunk_map": [{**t, "mine": t["group"] in {g.name for g in groups}} for t in trunks],
        }

    @staticmethod
    def _group_json(group: GroupInfo, trunks: Iterable[Mapping[str, str]]) -> dict[str, Any]:
        spec = group.spec
        return {
            "name": group.name,
            "members": list(spec.members),
            "supervisors": list(spec.supervisors),
            "dids": list(spec.dids),
            "queues": list(spec.queues),
            "trunks": [f"{t['server']}/{t['trunk']}" for t in trunks if t["group"] == group.name],
            "trigger": str(spec.trigger),
            "dispositions": list(spec.dispositions),
            "wrapup_seconds": spec.wrapup_seconds,
            "wrapup_applies_to": str(spec.wrapup_applies_to),
        }

    async def create_group(self, principal: Principal, fields: Mapping[str, Any]) -> GroupInfo:
        """A new group; a supervisor who creates one owns it, staffed from their own groups."""
        require(principal, Action.SUPERVISE_GROUPS)
        changes = _group_fields(fields, require_name=True)
        if principal.role is Role.SUPERVISOR:
            supervisors = changes.get("supervisors", (principal.username,))
            if tuple(supervisors) != (principal.username,):
                raise PermissionDenied(
                    "only an admin names a group's other supervisors",
                    details={"field": "supervisors"},
                )
            changes["supervisors"] = (principal.username,)
        owners = tuple(changes.get("supervisors", ()))
        await self._check_reach(principal, GroupSpec(name="-", supervisors=owners), changes)
        spec = GroupSpec(**changes)
        info = await self.store.aio.run(rows.create_group, self.store, spec, principal.username)
        await self._changed()
        return info

    async def update_group(
        self, principal: Principal, name: str, fields: Mapping[str, Any]
    ) -> GroupInfo:
        """Rename, or change members, owners, DIDs and queues, within the principal's reach."""
        before = await self.group(principal, name)
        changes = _group_fields(fields, require_name=False)
        owners = changes.get("supervisors")
        if (
            principal.role is Role.SUPERVISOR
            and owners is not None
            and principal.username not in owners
        ):
            raise ValidationFailed(
                "you cannot remove yourself from the group's supervisors",
                details={"field": "supervisors"},
            )
        await self._check_reach(principal, before.spec, changes)
        info = await self.store.aio.run(
            rows.update_group, self.store, name, changes, principal.username
        )
        await self._changed()
        return info

    async def _check_reach(
        self, principal: Principal, before: GroupSpec, changes: Mapping[str, Any]
    ) -> None:
        """Refuse what the principal may not give a group (403), and non-supervisors as owners.

        Membership, owners, DIDs and queues are the admin's to hand out. A supervisor may drop
        them from a group they own, and move into it only agents, DIDs and queues that are
        already in a group they own; never add a co-supervisor. Whoever edits, a group's owners
        are people whose role is supervisor or admin (an agent listed would receive the live
        feed of the group).
        """
        owners = changes.get("supervisors")
        if owners is not None:
            roles = {a.username: a.role for a in await self.store.aio.run(self.store.agents)}
            wrong = [o for o in owners if roles.get(o) not in _OWNER_ROLES]
            if wrong:
                raise ValidationFailed(
                    "a group's supervisors must be supervisors or admins",
                    details={"field": "supervisors", "not_supervisors": wrong[:10]},
                )
            if principal.role is not Role.ADMIN and set(owners) - set(before.supervisors):
                raise PermissionDenied(
                    "only an admin adds supervisors to a group", details={"field": "supervisors"}
                )
        if principal.role is Role.ADMIN:
            return
        mine = [g.spec for g in await self.groups_of(principal)]
        for key in ("members", "dids", "queues"):
            added = set(changes.get(key, ())) - set(getattr(before, key))
            reach = {value for spec in mine for value in getattr(spec, key)}
            outside = sorted(added - reach)
            if outside:
                raise PermissionDenied(
                    f"only an admin gives a group {key} that none of your groups has",
                    details={"field": key, "outside": outside[:10]},
                )

    async def delete_group(self, principal: Principal, name: str) -> None:
        await self.group(principal, name)
        await self.store.aio.run(rows.delete_group, self.store, name, principal.username)
        self.monitor.forget_group(name)
        await self._changed()

    async def _changed(self) -> None:
        await self._refresh_directory()
        await self.refresh()

    # ---------------------------------------------------------------------------- templates
    async def templates(self, principal: Principal, name: str) -> dict[str, Any]:
        """The group's versions (newest first), the live one, and what the editor offers."""
        info = await self.group(principal, name)
        versions = await self.store.aio.run(rows.template_versions_of, self.store, name)
        live = next((v for v in versions if v.live), None)
        return {
            "group": info.name,
            "versions": [v.summary() for v in versions],
            "live": live.number if live else None,
            "custom_live_template": live is None and info.spec.template is not None,
            "catalogue": {"fields": FIELDS, "layouts": LAYOUTS, "samples": SAMPLE_KINDS},
            "defaults": _current_settings(info).as_json(),
            "standard_template": STANDARD_TEMPLATE,
            "limits": {"source_chars": 64 * 1024, "render_ms": self.renderer.limits.time_ms},
        }

    async def version(self, principal: Principal, name: str, number: int) -> dict[str, Any]:
        await self.group(principal, name)
        found = await self.store.aio.run(rows.template_version, self.store, name, number)
        return _version_json(found)

    async def save(
        self, principal: Principal, name: str, source: str | None, settings: object, note: str
    ) -> dict[str, Any]:
        """Save a new version (a draft: it may not even compile; publishing checks)."""
        await self.group(principal, name)
        parsed = PopSettings.from_json(settings)
        _check_source(source)
        saved = await self.store.aio.run(
            rows.add_version,
            self.store,
            name,
            source,
            parsed.as_json(),
            author=principal.username,
            note=note,
        )
        problems = await asyncio.to_thread(publish_problems, self.renderer, source, parsed)
        return {**_version_json(saved), "problems": problems}

    async def publish(self, principal: Principal, name: str, number: int) -> dict[str, Any]:
        """Make version ``number`` live, if it compiles and renders every sample call."""
        await self.group(principal, name)
        found = await self.store.aio.run(rows.template_version, self.store, name, number)
        published = await self._publish(principal, found, "template.published")
        return _version_json(published)

    async def rollback(self, principal: Principal, name: str, number: int) -> dict[str, Any]:
        """Copy version ``number`` as a new version and publish it: its output comes back."""
        await self.group(principal, name)
        old = await self.store.aio.run(rows.template_version, self.store, name, number)
        await self._check_publishable(old)  # before copying: a failed roll back leaves no trace
        copy = await self.store.aio.run(
            rows.add_version,
            self.store,
            name,
            old.source,
            old.settings,
            author=principal.username,
            note=f"roll back to version {number}",
            kind="template.rolled_back",
            details={"from": number},
        )
        published = await self._publish(principal, copy, "template.published")
        return _version_json(published)

    async def _publish(
        self, principal: Principal, version: TemplateVersion, kind: str
    ) -> TemplateVersion:
        settings = await self._check_publishable(version)
        published = await self.store.aio.run(
            rows.publish_version,
            self.store,
            version.group,
            version.number,
            template=published_source(version.source, settings),
            trigger=settings.trigger,
            dispositions=settings.dispositions,
            wrapup_seconds=settings.wrapup_seconds,
            actor=principal.username,
            kind=kind,
        )
        await self._changed()
        return published

    async def _check_publishable(self, version: TemplateVersion) -> PopSettings:
        settings = PopSettings.from_json(version.settings)
        problems = await asyncio.to_thread(
            publish_problems, self.renderer, version.source, settings
        )
        if problems:
            first = problems[0]
            raise TemplateError(
                f"version {version.number} cannot be published: {first['error']}",
                details={"problems": problems, "line": first.get("line")},
            )
        return settings

    async def diff(self, principal: Principal, name: str, old: int, new: int) -> str:
        await self.group(principal, name)
        a = await self.store.aio.run(rows.template_version, self.store, name, old)
        b = await self.store.aio.run(rows.template_version, self.store, name, new)
        return diff_versions(
            a.source,
            PopSettings.from_json(a.settings),
            b.source,
            PopSettings.from_json(b.settings),
            old_label=f"version {old} ({a.author})",
            new_label=f"version {new} ({b.author})",
        )

    async def preview(
        self,
        principal: Principal,
        name: str,
        source: str | None,
        settings: object,
        *,
        sample: str | None,
        number: str | None,
    ) -> dict[str, Any]:
        """Render a draft exactly as a pop would be: sample data, or a real caller's CRM data."""
        await self.group(principal, name)
        parsed = PopSettings.from_json(settings)
        _check_source(source)
        context, about = await self._preview_context(name, sample, number)
        text = published_source(source, parsed)
        try:
            html = await asyncio.to_thread(self.renderer.render, text, context)
        except TemplateError as exc:
            return {"html": None, "error": {**exc.details, "error": exc.message}, **about}
        return {"html": html, "error": None, **about}

    async def _preview_context(
        self, group: str, sample: str | None, number: str | None
    ) -> tuple[dict[str, object], dict[str, Any]]:
        if number is None:
            kind = sample if sample in SAMPLE_KINDS else "one"
            return sample_context(kind, group=group), {"sample": kind}
        e164 = to_e164(number, self._regions.default_region())
        if e164 is None:
            raise ValidationFailed("that is not a phone number", details={"field": "number"})
        try:
            lookup = await asyncio.wait_for(self.crm.lookup(e164, self._options), timeout=10)
        except (CrmError, TimeoutError) as exc:
            raise CrmError(f"the CRM lookup of {e164} failed: {exc}") from exc
        context = preview_context(lookup, "done", group=group)
        return context, {"number": e164, "match_count": context["match_count"]}

    # ---------------------------------------------------------------------------- live
    async def live(self, principal: Principal, name: str) -> dict[str, Any]:
        info = await self.group(principal, name)
        return self.feed.snapshot(info)

    async def history(self, principal: Principal, name: str) -> list[dict[str, Any]]:
        """The group's audit trail: who changed what, when (newest first)."""
        await self.group(principal, name)
        return await self.store.aio.run(_group_events, self.store, name)

    # ---------------------------------------------------------------------------- the feed
    def observe(self, event: PbxEvent, updates: Sequence[CallUpdate]) -> None:
        """The AMI read path (never blocks)."""
        self.feed.monitor.observe(event, updates)

    def pop_sent(self, data: Mapping[str, object]) -> None:
        self.feed.pop_sent(data)

    def template_failed(self, group: str, error: str, call_id: str) -> None:
        """A pop of ``group`` fell back to the default template (the pop service says so)."""
        self.feed.template_failed(group, error, call_id)

    async def start(self) -> None:
        await self.feed.start()

    async def close(self) -> None:
        await self.feed.close()

    async def refresh(self) -> None:
        await self.feed.refresh()

    @property
    def monitor(self) -> GroupMonitor:
        return self.feed.monitor


# -------------------------------------------------------------------------------- helpers
_GROUP_FIELDS = ("name", "members", "supervisors", "dids", "queues")
_SETTING_FIELDS = ("wrapup_applies_to",)  # the group's own settings (any owner may set them)
MAX_LIST = 500


def _group_fields(fields: Mapping[str, Any], *, require_name: bool) -> dict[str, Any]:
    unknown = set(fields) - set(_GROUP_FIELDS) - set(_SETTING_FIELDS)
    if unknown:
        raise ValidationFailed("unknown group fields", details={"unknown": sorted(unknown)[:10]})
    changes: dict[str, Any] = {}
    if "name" in fields or require_name:
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip() or not name.strip().isprintable():
            raise ValidationFailed("a group needs a name", details={"field": "name"})
        changes["name"] = name.strip()
    for key in _GROUP_FIELDS[1:]:
        if key in fields:
            value = fields[key]
            if not isinstance(value, list) or len(value) > MAX_LIST:
                raise ValidationFailed(f"{key} is a list", details={"field": key})
            if not all(isinstance(v, str) and v.strip() for v in value):
                raise ValidationFailed(f"{key} holds names", details={"field": key})
            changes[key] = tuple(dict.fromkeys(v.strip() for v in value))
    if "wrapup_applies_to" in fields:
        changes["wrapup_applies_to"] = WrapupScope.parse(fields["wrapup_applies_to"])
    return changes


def _check_source(source: str | None) -> None:
    if source is not None and len(source) > 64 * 1024:
        raise ValidationFailed("the template is longer than 64 KiB", details={"field": "source"})


def _current_settings(info: GroupInfo) -> PopSettings:
    """The settings a group has now without any version (set by the admin console or seed)."""
    try:
        return PopSettings(
            trigger="answered" if str(info.spec.trigger) == "answered" else "ringing",
            dispositions=info.spec.dispositions or PopSettings().dispositions,
            wrapup_seconds=min(info.spec.wrapup_seconds, 3600),
        )
    except ValidationFailed:  # e.g. a disposition longer than the console allows
        return PopSettings()


def _version_json(version: TemplateVersion) -> dict[str, Any]:
    return {**version.summary(), "source": version.source, "settings": version.settings}


def _group_events(store: Store, group: str) -> list[dict[str, Any]]:
    entries = store.events(limit=1000)
    return [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "kind": e.kind,
            "details": e.details,
        }
        for e in entries
        if e.details.get("group") == group
        and (e.kind.startswith("supervisor.") or e.kind.startswith("admin."))
    ][:200]
