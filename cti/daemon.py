"""The composition root: build every part of ``cti serve`` from the settings, run, drain, stop.

Data flow (see docs and DESIGN): Asterisk -> AsteriskSource (normalized events) -> CallTracker
(call updates) -> PopService (CRM lookup, template, targeting) -> AgentHub (websockets); call
ended -> StoreRecords (outbox row) -> OutboxWriter -> CRM connector(s).

Shutdown (SIGTERM or SIGINT): agents' sockets close with 1001, AMI sessions close (no new
commands), records of ended calls are written, the outbox is flushed within a deadline, then the
HTTP server stops. Nothing is fire-and-forget: every task belongs to a part that stops it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import signal
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent_ui.access_admin import access_admin_routes
from agent_ui.access_api import access_api_routes
from agent_ui.account_api import account_routes
from agent_ui.admin import admin_routes
from agent_ui.agent_messages import AgentMessages
from agent_ui.cluster_api import cluster_routes
from agent_ui.desktop import Desktop
from agent_ui.examples import CallUsBackend, call_us_routes
from agent_ui.hub import AgentHub
from agent_ui.missed_calls_api import missed_call_routes
from agent_ui.monitoring_api import monitoring_routes
from agent_ui.notifier import Notifier
from agent_ui.oidc_api import oidc_routes
from agent_ui.phone_api import PhoneApi
from agent_ui.phone_files_api import phone_file_routes
from agent_ui.recording_api import recording_routes
from agent_ui.reports_api import report_routes
from agent_ui.server import server_config
from agent_ui.signup_api import signup_routes
from agent_ui.site_api import site_routes
from agent_ui.site_settings_api import site_settings_routes
from agent_ui.supervisor import supervisor_routes
from agent_ui.test_calls_api import TestCallApi
from agent_ui.wallboard_api import wallboard_routes
from agent_ui.web import create_app
from crm_connectors.base import LookupOptions
from crm_connectors.builtin import upgrade as upgrade_crm
from cti.access_numbers.service import AccessNumbers
from cti.accounts.oidc import OidcSessions
from cti.accounts.passwords import PasswordChanges
from cti.accounts.sessions import SessionBook
from cti.accounts.totp import TotpFactors
from cti.admin.services import AdminServices
from cti.agent_state import AgentStates
from cti.cluster.node import LeasedSources
from cti.cluster.pops import LocalPops, RecordedPops
from cti.config import Settings
from cti.core.events import PbxEvent
from cti.core.tracker import CallTracker
from cti.core.updates import AgentRang
from cti.errors import CrmUnavailable, CtiError
from cti.live_calls import LiveCallJournal
from cti.metrics import LoopLagProbe, Metrics
from cti.missed_calls import MissedCalls
from cti.monitoring import MonitorService
from cti.numbers import default_region_warning
from cti.pop.directory import DirectoryRef
from cti.pop.service import PopService
from cti.private_files import check_private, create_private_file
from cti.recording import RecordingService
from cti.reports.buckets import Counting
from cti.reports.dashboard import Dashboard, Light
from cti.reports.recorder import FactRecorder
from cti.reports.service import Reports
from cti.reports.worker import ReportWorker
from cti.secretbox import SecretBox
from cti.services import StoreAuthenticator, StoreRecords, build_directory
from cti.site.phone_server import PhoneFileServer, PhoneServerSettings
from cti.site.service import SiteAdmin
from cti.site.signup import SignupLinks
from cti.site.workbook import SiteWorkbook
from cti.store import OutboxWriter, Store
from cti.store.supervision import trunk_mappings
from cti.store.values import AgentEndpoint, GroupSpec
from cti.supervision.board import Wallboards
from cti.supervision.console import PopCounter, SupervisorConsole
from cti.webphone import WebPhones
from cti.webphone.test_calls import TestCalls
from cti.wiring import (
    ServerCommands,
    ami_settings,
    build_connectors,
    check_private_state,
    cluster_node,
    load_site_settings,
    oidc_login,
    on_disk,
    ticket_store,
    web_policy,
    websocket_origins,
)
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.connection import AmiSettings
from pbx_adapters.asterisk.queue_control import AsteriskQueues
from pbx_adapters.asterisk.source import AsteriskSource

__all__ = ["Daemon"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, with the daemon's drain run before uvicorn closes connections."""

    def __init__(self, config: uvicorn.Config, daemon: Daemon) -> None:
        super().__init__(config)
        self._daemon = daemon

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        await self._daemon.drain()
        await super().shutdown(sockets)


class Daemon:
    """Every long-lived part of one ``cti serve`` process."""

    def __init__(
        self, settings: Settings, environ: Mapping[str, str] = MappingProxyType({})
    ) -> None:
        """Build every part; ``environ`` holds the secrets that settings name by variable."""
        self.settings = settings
        self.state_dir = settings.state_dir
        check_private_state(settings)
        self.metrics = Metrics()
        self.loop_lag = LoopLagProbe(self.metrics.event_loop_lag)
        self.store = Store.from_settings(settings.store)
        self._build_records(environ)
        self._build_call_path()
        self._build_reports()
        commands = self._build_sources()
        self._build_desktop(commands)
        self._build_phones(commands)
        self._build_accounts()
        self._build_recording(commands)
        self._build_admin()
        self._tickets = ticket_store(settings)  # None: kept in this process's memory
        self.accepting = True
        self._drained = False
        self._refresh_task: asyncio.Task[None] | None = None
        self._crm_task: asyncio.Task[None] | None = None
        self._gc_task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------------------- building
    # One builder per concern, called in this order by __init__ (later ones use earlier parts).
    def _build_records(self, environ: Mapping[str, str]) -> None:
        """The site's settings, the CRM connectors, the outbox and where call records go."""
        settings = self.settings
        # The site's default region: stored by an admin (or setup), else the file's; every part
        # reading typed-in numbers asks it each time (issue 13).
        self.site_settings = load_site_settings(self.store, settings.crm)
        crm_url = settings.crm.builtin_url or settings.store.url
        self.connectors = build_connectors(settings.crm, crm_url, environ, self.site_settings)
        self._crm_url = crm_url
        self.directory = DirectoryRef()  # refresh_directory() swaps in a new one
        self.writer = OutboxWriter.from_settings(
            self.store.aio, self.connectors, settings.store.outbox
        )
        self.records = StoreRecords(
            self.store,
            [name for name in settings.crm.connectors if name in self.connectors],
            self.writer.poke,
            self.state_dir / "unwritten-records.jsonl",
        )

    def _build_call_path(self) -> None:
        """The read path: the cluster node (if any), agents' hub and notifier, the call tracker."""
        self.cluster = cluster_node(self.settings)  # None: one process, no broker (the default)
        self.hub = AgentHub(fanout=self.cluster.fanout if self.cluster else None)
        self.notifier = Notifier(self.hub)  # every frame the services send browsers
        self.tracker = CallTracker(self.directory.is_agent_endpoint, self.directory.phone_of)
        self.live_calls = LiveCallJournal(self.store.aio, self.tracker)
        # Each agent's missed calls, picked from the updates and written off the read path.
        self.missed_calls = MissedCalls(self.store, self._owners_of, self.notifier)

    def _build_reports(self) -> None:
        """Reports: facts counted off the read path, the report queries, the admin dashboard."""
        settings = self.settings
        # Reports: queue and agent facts counted into buckets off the read path (issue 18).
        site_tz = ZoneInfo(settings.reports.time_zone)
        self.report_facts = FactRecorder(
            self.store.aio,
            Counting(
                site_tz,
                settings.reports.short_abandon_s,
                settings.reports.service_level_s,
                settings.reports.queue_service_level_s,
            ),
            self._agent_name,
        )
        self.reports = Reports(self.store.aio, site_tz)
        # The report API's answers: in a nice'd process of their own, off the pops' interpreter.
        in_worker = settings.reports.worker == "process" and on_disk(settings.store.url)
        self.report_worker = ReportWorker(self.reports, settings.store.url if in_worker else None)
        self.dashboard = Dashboard(self.store.aio, self.reports, self._lights)

    def _build_sources(self) -> Mapping[str, AsteriskCommands]:
        """The AMI sources of the configuration file (servers an admin adds join the list
        later); return each server's commands, live: every service holds this one mapping."""
        settings = self.settings
        self.sources = [
            AsteriskSource(s.name, ami_settings(s), self._on_event) for s in settings.servers
        ]
        owned = None if self.cluster is None else self.cluster.actions
        self.commands = ServerCommands(self.sources, owned)
        for source in self.sources:
            self.commands.prepare(source.name)
        return self.commands

    def _build_desktop(self, commands: Mapping[str, AsteriskCommands]) -> None:
        """Agent state, the supervisor console, access numbers, pops and the agent desktop."""
        settings = self.settings
        primary = self.connectors[settings.crm.connectors[0]]
        self.agent_states = AgentStates(
            AsteriskQueues(commands), self.directory, self.notifier.agent_state
        )
        # The supervisor console: groups, pop templates (publishing refreshes the directory).
        self.supervision = SupervisorConsole(
            store=self.store,
            notifier=self.notifier,
            crm=primary,
            directory=self.directory,
            calls=self.tracker.active_calls,
            refresh_directory=self.refresh_directory,
            default_region=self.site_settings,
            wrapups=self.agent_states.wrapup_of,
            today=self.reports.queues_today,  # the wallboard's service level so far
        )
        # Access numbers: companies' apps reserve DIDs; a matching call's pop carries the request.
        self.access = AccessNumbers(
            self.store,
            default_region=self.site_settings,
            registry=self.metrics.registry,
        )
        self.pops = PopService(
            primary,
            self.directory,
            PopCounter(self.notifier, self.supervision.pop_sent),
            self.records,
            default_region=self.site_settings,
            lookup_timeout_s=settings.crm.lookup_timeout_ms / 1000,
            on_template_failure=self.supervision.template_failed,
            interactions=self.access,
            lookup_took=self.metrics.crm_lookup.observe,
        )
        self.hub.snapshots_from(self.pops.active_pops)  # a reconnecting tab gets its open pops
        # A call's pops are known to the node tracking it: in a cluster, its server's owner.
        # The desktop's CRM actions and the notes agents send over the websocket ask it.
        # Ended calls no pop service remembers (a restart, a new owner) are asked of their record.
        self.call_pops = RecordedPops(
            LocalPops(self.pops) if self.cluster is None else self.cluster.pops(self.pops),
            lambda call_id, agent: self.store.aio.run(self.store.record_names, call_id, agent),
        )
        # The agent desktop: page, click-to-dial, call control, CRM API, agent state.
        self.desktop = Desktop(
            dial=settings.dial,
            region=self.site_settings,
            store=self.store,
            crm=primary,
            calls=self.tracker,
            commands=commands,
            states=self.agent_states,
            directory=self.directory,
            notifier=self.notifier,
            look_up_again=self.call_pops.look_up_again,
            was_shown=self.call_pops.was_shown,
        )

    def _build_phones(self, commands: Mapping[str, AsteriskCommands]) -> None:
        """The browser phone and test calls."""
        settings = self.settings
        # The phone in the agent desktop: each agent's own browser phone registration.
        realm = settings.provisioning.sip_realm
        self.phone = PhoneApi(WebPhones(self.store, settings.webphone, realm))
        # "Ring me a test call" and "Simulate a call": Originates into the PBX (issue 15).
        self.test_calls = TestCallApi(
            TestCalls(
                settings.test_calls,
                commands,
                self._agent_endpoints,
                self._group_spec,
                default_region=self.site_settings,
            )
        )

    def _build_accounts(self) -> None:
        """The second factor and single sign-on."""
        # Supervisors' and admins' optional second factor at login (issue 14).
        # and single sign-on through an OpenID Connect provider, when [oidc] names one.
        self.totp, self.oidc = (
            TotpFactors(self.store, SecretBox.for_state_dir(self.state_dir)),
            oidc_login(self.settings, self.store, self.state_dir),
        )

    def _build_recording(self, commands: Mapping[str, AsteriskCommands]) -> None:
        """Recording and supervisors' monitoring of calls."""
        settings = self.settings
        # Recording per group policy, and supervisors' listen / whisper / barge (issue 19).
        self.recording = RecordingService(
            store=self.store,
            calls=self.tracker,
            servers=commands,
            directory=self.directory,
            supervisors_of=self._supervisors_of,
            audit=self._audit_by,
            files=settings.recording.directory,
            notifier=self.notifier,
            link_base=settings.http.public_origin,
            # One publisher a server: in a cluster, the node holding its AMI session.
            publishes_to=self.cluster.owns if self.cluster is not None else lambda server: True,
        )
        self.pops.recordings_from(self.recording.links_of)  # the record's recording links
        self.monitoring = MonitorService(
            calls=self.tracker,
            servers=commands,
            directory=self.directory,
            supervisors_of=self._supervisors_of,
            endpoints_of=self._endpoints_of,
            tell_agent=self.recording.tell_agent,
            notifier=self.notifier,
            audit=self._audit_by,
        )

    def _build_admin(self) -> None:
        """The PBX admin console, the setup wizard, phone files and signup links."""
        settings = self.settings
        # The PBX admin console: servers added at runtime join self.sources.
        self.admin = AdminServices.build(
            settings=settings.provisioning,
            config_servers=settings.servers,
            store=self.store,
            registry=self.metrics.registry,
            sources=self.sources,
            make_source=self._make_source,
            refresh_directory=self.refresh_directory,
            active_calls=self.tracker.active_calls,
            is_agent_endpoint=self.directory.is_agent_endpoint,
            secrets=SecretBox.for_state_dir(self.state_dir),
            runner=LeasedSources(self.cluster) if self.cluster is not None else None,
        )
        # The setup wizard (locations, numbers, devices); its changes join the admin history.
        self.site = SiteAdmin(
            self.store,
            SecretBox.for_state_dir(self.state_dir),
            self.admin.history.record,
            default_region=self.site_settings,
        )
        self.admin.use_site(self.site.pbx_devices, SiteWorkbook(self.site, self.store))
        # Desk phones' configuration files, each only to its device (every fetch audited).
        self.phone_files = PhoneFileServer(
            self.store,
            SecretBox.for_state_dir(self.state_dir),
            self.admin.history.record,
            PhoneServerSettings.from_settings(settings.provisioning),
            provision_realm=self.site.provision_realm,
        )
        # One-time signup links: a password, then the agent's desktop or softphone configured.
        self.signup = SignupLinks(
            self.store,
            SecretBox.for_state_dir(self.state_dir),
            self.admin.history.record,
            PhoneServerSettings.from_settings(settings.provisioning),
            public_origin=settings.http.public_origin,
            realm=settings.provisioning.sip_realm,
        )

    async def _supervisors_of(self, group: str) -> tuple[str, ...]:
        info = await self.store.aio.run(self.store.get_group, group)
        return () if info is None else info.spec.supervisors

    async def _agent_endpoints(self, username: str) -> tuple[AgentEndpoint, ...]:
        agent = await self.store.aio.run(self.store.get_agent, username)
        return agent.endpoints if agent is not None and agent.active else ()

    async def _group_spec(self, group: str) -> GroupSpec | None:
        info = await self.store.aio.run(self.store.get_group, group)
        return None if info is None else info.spec

    def _endpoints_of(self, username: str) -> list[str]:
        owners = self.directory.current.endpoint_owners
        return [endpoint for endpoint, users in owners.items() if username in users]

    async def _audit_by(self, kind: str, details: Mapping[str, object], actor: str) -> None:
        await self.store.aio.run(self.store.record_event, kind, dict(details), actor)

    def _make_source(self, name: str, ami: AmiSettings) -> AsteriskSource:
        """A PBX connection feeding the read path (for servers an admin adds at runtime)."""
        self.commands.prepare(name)
        return AsteriskSource(name, ami, self._on_event)

    # ---------------------------------------------------------------------------- cluster
    def _source_named(self, name: str) -> AsteriskSource:
        return next(source for source in self.sources if source.name == name)

    async def _gain_server(self, server: str) -> None:
        """This node took the AMI lease of ``server``: its saved live calls, then its session.

        Tabs that show a restored call's pop (the old owner sent it) get an update, not a
        second pop: the kept frames say which pops are on screen.
        """
        restored = await self.live_calls.restore([server])
        await self.pops.take_back(restored, self.notifier.pops_on_screen)
        await self._source_named(server).start()  # its first resync settles the restored calls

    async def _lose_server(self, server: str) -> None:
        """Another node owns ``server`` now: close our session, drop its calls (that node
        restores them from the store and records them); a fresh session (same settings, for a
        configured server or one an admin added) waits for a lease."""
        old = self._source_named(server)
        await old.close()
        gone = self.tracker.forget_server(server)
        self.live_calls.forget(gone)
        self.pops.forget(gone)
        self.metrics.active_calls.set(self.tracker.active_count())
        self.sources[self.sources.index(old)] = self._make_source(server, old.connection.settings)

    # ---------------------------------------------------------------------------- events
    def _on_event(self, event: PbxEvent) -> None:
        """The AMI read path: normalized event -> call updates -> pops. Never blocks."""
        self.admin.on_event(event)
        self.metrics.ami_events.labels(event.server).inc()
        updates = self.tracker.feed(event)
        self.live_calls.observe(updates)
        self.missed_calls.observe(updates)
        self.report_facts.observe(event, updates)
        for update in updates:
            self.pops.handle(update)
            if isinstance(update, AgentRang):
                self.metrics.pop_latency.observe(max(0.0, time.time() - update.at))
        self.desktop.on_event(event, updates)
        self.supervision.observe(event, updates)
        self.recording.observe(event, updates)
        self.monitoring.observe(event, updates)
        self.metrics.active_calls.set(self.tracker.active_count())

    def _call_us_backend(self) -> CallUsBackend:
        """The example page's backend: the demo company's, calling our own API (issue 17)."""
        examples = self.settings.examples
        origin = examples.api_origin or self.settings.http.public_origin
        return CallUsBackend(examples.call_us_key, origin, examples.call_us_pool)

    def _agent_name(self, endpoint: str) -> str:
        """Reports count an agent's phone for its owner (the phone itself when it has none)."""
        owners = self.directory.current.owners(endpoint)
        return owners[0] if owners else endpoint

    def _owners_of(self, endpoint: str) -> tuple[str, ...]:
        """The agents whose phone ``endpoint`` is, in the directory of the moment."""
        return self.directory.current.owners(endpoint)

    def _lights(self) -> list[Light]:
        """The admin home page's status bar: each AMI link, each CRM connector, the outbox,
        the recording folder (the page adds the cluster's from /healthz)."""
        lights = [
            Light("ami", s.name, "green" if s.connection.ready else "red",
                  "connected" if s.connection.ready else "not connected")
            for s in self.sources
        ]  # fmt: skip
        stats = self.writer.stats
        reason = f"{stats.stuck} records failing" if stats.stuck else "delivering"
        for name in self.connectors:
            lights.append(Light("crm", name, "yellow" if stats.stuck else "green", reason))
        waiting = f"{stats.depth} waiting, {stats.stuck} stuck"
        lights.append(Light("outbox", "outbox", "yellow" if stats.stuck else "green", waiting))
        files = self.recording.check_files()  # now, as /healthz; calls go on without it: yellow
        ok = "readable and writable"
        lights.append(Light("recording", "recording folder", "green" if files.ok else "yellow",
                            ok if files.ok else files.reason))  # fmt: skip
        return lights

    # ---------------------------------------------------------------------------- setup
    async def refresh_directory(self) -> None:
        """Rebuild the in-memory directory from the store (after any change to agents/groups)."""
        owners = await self.store.aio.run(self.store.endpoint_owners)
        groups = await self.store.aio.run(self.store.groups)
        trunks = await asyncio.to_thread(trunk_mappings, self.store)
        directory = build_directory(owners, groups, trunks)
        for group, error in await asyncio.to_thread(self.pops.compile_templates, directory):
            log.warning("group %s: its pop template does not compile (%s)", group, error)
        self.directory.current = directory

    async def _refresh_forever(self, every_s: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.refresh_directory()
            except Exception:  # the store may be restarting; the old directory still serves
                log.exception("could not refresh the agent directory")

    async def _freeze_connections(self, every_s: float = 15.0) -> None:
        """Keep agents' connections out of the collector's way, as start-up objects are.

        With 1,000 agents connected, full collections took 107-164 ms and gen-1 ones 4-31 ms,
        pauses every pop waits behind (docs/performance.md). Each time the number of connected
        agents has grown by a quarter, the young generations are collected (cheap) and
        everything alive is frozen. Cyclic garbage already in the oldest generation then is
        kept for good; this happens a logarithmic number of times, so that stays small.
        """
        frozen_at = 0
        while True:
            await asyncio.sleep(every_s)
            agents = self.hub.metrics().connected_agents
            if agents >= 100 and agents >= frozen_at * 1.25:
                gc.collect(1)
                gc.freeze()
                frozen_at = agents
                log.info("%d agents connected: %d objects frozen", agents, gc.get_freeze_count())

    def _session_secret(self) -> SecretStr:
        configured = self.settings.http.session_secret
        if configured is not None:
            return configured
        path = self.state_dir / "session-secret"
        create_private_file(path, secrets.token_urlsafe(48).encode())
        check_private(path, "the session secret")
        return SecretStr(path.read_text().strip())

    def build_app(self, extra_routes: Sequence[BaseRoute] = ()) -> Any:
        routes: list[BaseRoute] = [
            Route("/healthz", self._healthz),
            Route("/metrics", self._metrics),
            *admin_routes(self.admin),
            *cluster_routes(self.cluster.status if self.cluster is not None else None),
            *access_admin_routes(self.access, self.site_settings),
            *access_api_routes(self.access, self.site_settings),
            *call_us_routes(self._call_us_backend()),
            *site_routes(self.site),
            *site_settings_routes(self.site_settings),
            *phone_file_routes(self.phone_files),
            *signup_routes(
                self.signup,
                secure_cookies=self.settings.http.secure_cookies,
                imported_users=self.admin.provisioning.imported_users,
            ),
            *report_routes(self.report_worker, self.reports, self.dashboard),
            *supervisor_routes(self.supervision),
            *wallboard_routes(Wallboards(self.supervision)),
            *self.desktop.routes(),
            *self.phone.routes(),
            *missed_call_routes(self.missed_calls),
            *self.test_calls.routes(),
            *monitoring_routes(self.monitoring),
            *recording_routes(self.recording),
            *account_routes(
                PasswordChanges(self.store), self.totp, web_policy(self.settings.http), self._audit
            ),
            *oidc_routes(
                self.oidc,
                self.settings.oidc.button_label,
                secure_cookies=self.settings.http.secure_cookies,
            ),
            *extra_routes,
        ]
        sessions = SessionBook(self.store)
        return create_app(
            authenticator=StoreAuthenticator(self.store),
            hub=self.hub,
            http=self.settings.http,
            secret=self._session_secret(),
            on_agent_message=AgentMessages(self.store, self.call_pops.was_shown),
            routes=routes,
            connect_sources=websocket_origins(self.settings),
            audit=self._audit,
            sessions=sessions if self.oidc is None else OidcSessions(sessions, self.oidc),
            second_factor=self.totp,
            policy=web_policy(self.settings.http),
            tickets=self._tickets,
        )

    async def _audit(self, kind: str, details: dict[str, object]) -> None:
        await self.store.aio.run(self.store.record_event, kind, details)

    async def _healthz(self, request: Request) -> Response:
        del request
        servers = {s.name: s.connection.ready for s in self.sources}
        healthy = all(servers.values()) and self.accepting
        recording = self.recording.check_files()  # yellow, not down: calls go on without it
        body = {
            "status": "ok" if healthy else "degraded",
            "ami": servers,
            "active_calls": len(self.tracker.active_calls()),
            "outbox": {"depth": self.writer.stats.depth, "stuck": self.writer.stats.stuck},
            "recording": {"ok": recording.ok, "reason": recording.reason},
        }
        if self.cluster is not None:  # a node answers for the servers it owns
            body["cluster"] = status = await self.cluster.status()
            owned = {name: ok for name, ok in servers.items() if self.cluster.owns(name)}
            # A node cut off from the broker can deliver nothing made elsewhere: out of the
            # load balancer's rotation (503) until it is back.
            healthy = all(owned.values()) and self.accepting and status["broker"] == "ok"
            body["ami"], body["status"] = owned, "ok" if healthy else "degraded"
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def _metrics(self, request: Request) -> Response:
        del request
        hub = self.hub.metrics()
        stats = self.writer.stats
        self.metrics.agents_connected.set(hub.connected_agents)
        self.metrics.outbox_depth.set(stats.depth)
        self.metrics.outbox_stuck.set(stats.stuck)
        self.admin.refresh_metrics()
        for source in self.sources:
            self.metrics.ami_connected.labels(source.name).set(1 if source.connection.ready else 0)
        return Response(self.metrics.exposition(), media_type="text/plain; version=0.0.4")

    # ---------------------------------------------------------------------------- run
    async def start(self) -> None:
        """Migrate, load, recover, connect; return once everything runs."""
        await asyncio.to_thread(self.store.upgrade)
        region = await self.site_settings.load()  # a stored region counts as chosen
        warning = default_region_warning(region.region, region.chosen)
        if warning:
            log.warning("%s", warning)
        crm_ready = await self._upgrade_crm()
        recovered = await asyncio.to_thread(self.records.recover)
        if recovered:
            log.warning("wrote %d call records a previous run could not", recovered)
        await self.refresh_directory()
        if crm_ready:
            await self._warm_up()
        else:  # serve without it: pops carry the caller id, records wait in the outbox
            self._crm_task = asyncio.create_task(self._upgrade_crm_later(), name="crm-upgrade")
        # Calls up when the previous run stopped: back into the tracker (and their pops) before
        # any PBX connection opens; each server's first resync closes those that ended meanwhile.
        servers = {source.name for source in self.sources}  # and those an admin added:
        servers |= {spec.name for spec in await asyncio.to_thread(self.admin.servers.stored)}
        restored = await self.live_calls.restore(servers if self.cluster is None else ())
        await self.pops.take_back(restored, self.notifier.pops_on_screen)
        self.metrics.active_calls.set(self.tracker.active_count())
        # Start-up objects (templates, SQLAlchemy, the directory) live as long as the process:
        # move them out of the collector's way so its passes scale with per-call garbage only.
        gc.freeze()
        self._refresh_task = asyncio.create_task(self._refresh_forever(), name="directory")
        self._gc_task = asyncio.create_task(self._freeze_connections(), name="gc-policy")
        self.writer.start()
        self.live_calls.start()
        self.missed_calls.start()
        self.report_facts.start()
        self.loop_lag.start()
        if self.cluster is not None:  # each server's session opens on the node owning it
            await self.cluster.start(self._gain_server, self._lose_server)
        for source in self.sources if self.cluster is None else ():
            await source.start()
        await self.admin.start()
        await self.supervision.start()
        await self.recording.start(self.settings.recording.sweep_every_s)
        await self.access.start()

    async def _upgrade_crm(self) -> bool:
        """Bring the built-in CRM's schema up to date; False when its database is unreachable.

        An unreachable CRM must not keep the daemon from starting: calls still ring and pop
        (with the caller id), and their records wait in the outbox until the CRM is back.
        """
        try:
            await asyncio.wait_for(asyncio.to_thread(upgrade_crm, self._crm_url), timeout=20)
        except (CrmUnavailable, TimeoutError) as exc:
            log.warning("the built-in CRM is unreachable (%s); starting without it", exc)
            return False
        return True

    async def _upgrade_crm_later(self, every_s: float = 5.0) -> None:
        while True:  # until it works: the daemon is useful meanwhile
            await asyncio.sleep(every_s)
            if await self._upgrade_crm():
                log.info("the built-in CRM is reachable again")
                return

    async def _warm_up(self) -> None:
        """Throwaway lookups: the first ones pay for threads, connections and number metadata."""
        primary = self.connectors[self.settings.crm.connectors[0]]
        lookups = [primary.lookup("+442079460999", LookupOptions()) for _ in range(4)]
        try:
            await asyncio.wait_for(asyncio.gather(*lookups), timeout=10)
        except (CtiError, TimeoutError) as exc:
            log.warning("CRM warm-up lookup failed (%s); pops fall back to caller id", exc)

    async def drain(self) -> None:
        """Stop taking work, close agents' sockets with 1001, write and flush every record."""
        if self._drained:
            return
        self._drained = True
        self.accepting = False
        self.hub.close_all()
        await self.desktop.close()
        await self.admin.close()
        await self.supervision.close()
        await self.recording.close()
        await self.monitoring.close()
        await self.access.close()
        for source in self.sources:
            await source.close()
        await self.live_calls.close()  # no events any more: save every live call as it stands
        if self.cluster is not None:  # saved: the next owner restores them from the store
            await self.cluster.close()
        await self.report_facts.close()
        await self.missed_calls.close()
        await self.loop_lag.close()
        for task in (self._refresh_task, self._crm_task, self._gc_task):
            if task is not None:
                task.cancel()
        try:
            await asyncio.wait_for(self.pops.close(), timeout=10.0)
        except TimeoutError:
            self.records.spill()
        if not await self.writer.flush(timeout=10.0):
            log.warning("outbox not empty at shutdown; the next start delivers the rest")
        await self.writer.stop()

    async def close(self) -> None:
        await self.drain()
        for connector in self.connectors.values():
            await connector.close()
        if self._tickets is not None:
            await self._tickets.close()
        self.report_worker.close()
        self.store.close()

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT, then drain and stop."""
        await self.start()
        server = _Server(server_config(self.build_app(), self.settings.http), self)
        # uvicorn swaps in its own handlers while serving and re-raises the signal into the
        # previous ones afterwards: make those harmless, so the process ends with status 0.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: None)
        http = self.settings.http
        log.info("serving on http://%s:%d", http.host, http.port)
        try:
            await server.serve()
        finally:
            await self.close()
