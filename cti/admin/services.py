"""The admin console's services, built separately and bundled for the composition root.

Each concern is its own small service: servers (:class:`ServerAdmin`), trunks
(:class:`TrunkMonitor`), groups and DIDs (:class:`DidAdmin`), bulk provisioning
(:class:`Provisioning`), the Asterisk include files (:class:`AsteriskConfig`) and the event
history (:class:`AdminHistory`). The root builds them with :meth:`AdminServices.build`, starts
and closes them through the bundle, and :func:`agent_ui.admin.admin_routes` hands each route
handler the one service it uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from cti.admin.admin_link import AdminLink
from cti.admin.asterisk_config import AsteriskConfig
from cti.admin.dids import DidAdmin
from cti.admin.history import AdminHistory
from cti.admin.metrics import AdminMetrics
from cti.admin.pbxconf import SiteDevice
from cti.admin.provisioning import Provisioning
from cti.admin.server_admin import ServerAdmin
from cti.admin.servers import ServerRegistry, SourceFactory, SourceRunner
from cti.admin.site_sheets import SiteSheets
from cti.admin.trunk_monitor import TrunkMonitor
from cti.config import AmiServerSettings, ProvisioningSettings
from cti.core.events import PbxEvent
from cti.core.updates import CallView
from cti.secretbox import SecretBox
from cti.store import Store
from pbx_adapters.asterisk.source import AsteriskSource

__all__ = ["AdminServices"]


@dataclass(frozen=True, slots=True)
class AdminServices:
    """The admin console's services; lifecycle and AMI events for the root, one each for routes."""

    servers: ServerAdmin
    trunks: TrunkMonitor
    dids: DidAdmin
    provisioning: Provisioning
    config: AsteriskConfig
    history: AdminHistory
    link: AdminLink

    @classmethod
    def build(
        cls,
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
        runner: SourceRunner | None = None,
    ) -> AdminServices:
        """Build every admin service; servers added at runtime join ``sources`` (and run as
        ``runner`` says: in a cluster, on the node holding their AMI lease)."""
        history = AdminHistory(store)
        metrics = AdminMetrics(registry)
        hosts = {s.name: (s.host, s.port, s.username, s.tls) for s in config_servers}
        # The link reads the stored servers, the monitor uses the link, and the registry tells
        # the monitor which server was removed: the link looks the registry up when it opens.
        link = AdminLink(settings, config_servers, lambda: servers.stored())  # noqa: PLW0108
        trunks = TrunkMonitor(
            settings,
            link,
            history,
            metrics,
            active_calls=active_calls,
            is_agent_endpoint=is_agent_endpoint,
        )
        servers = ServerRegistry(
            store,
            sources,
            make_source,
            secrets=secrets,
            config_hosts=hosts,
            on_removed=trunks.forget_server,
            runner=runner,
        )
        return cls(
            servers=ServerAdmin(servers, history, metrics),
            trunks=trunks,
            dids=DidAdmin(store, history, refresh_directory),
            provisioning=Provisioning(settings, store, history, refresh_directory),
            config=AsteriskConfig(settings, store, link, history),
            history=history,
            link=link,
        )

    def use_site(
        self, devices: Callable[[str], Awaitable[Sequence[SiteDevice]]], sheets: SiteSheets
    ) -> None:
        """Hand the site's devices to the config generator and its workbook sheets to bulk
        provisioning (the site service is built after these)."""
        self.config.use_site(devices)
        self.provisioning.use_site(sheets)

    async def start(self) -> None:
        self.history.start()
        await self.servers.start()
        self.trunks.start()

    async def close(self) -> None:
        await self.trunks.close()
        await self.servers.close()
        await self.provisioning.close()
        await self.history.close()
        await self.link.close()

    def on_event(self, event: PbxEvent) -> None:
        """The AMI read path (never blocks)."""
        self.trunks.on_event(event)

    def refresh_metrics(self) -> None:
        """Bring the trunk and server gauges up to date (GET /metrics calls this)."""
        self.trunks.refresh_metrics()
        self.servers.refresh_metrics()
