"""How the daemon's parts are made from the settings: AMI sessions, CRM connectors, the site's
settings, the cluster node and its tickets, the web policy, and the live map of each Asterisk
server's commands.

Part of the composition root (:mod:`cti.daemon` calls these as it builds): the only code, with
it, that knows the concrete classes on every side.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from agent_ui.policy import WebPolicy
from broker_adapters.redis import BrokerKeys, RedisFanout, connect
from broker_adapters.redis.lease import RedisLeases
from broker_adapters.redis.requests import RedisRequests
from broker_adapters.redis.tickets import RedisTickets
from crm_connectors.base import CrmConnector
from crm_connectors.builtin import BuiltinCrm
from crm_connectors.salesforce import from_config as salesforce_from_config
from cti.accounts.oidc import OidcLogin
from cti.cluster.node import ClusterNode
from cti.config import AmiServerSettings, CrmSettings, HttpSettings, Settings
from cti.errors import AmiError, ConfigError, StoreError
from cti.numbers import FixedRegion, RegionSource
from cti.private_files import check_private, ensure_private_dir
from cti.secretbox import SecretBox
from cti.site_settings import SiteSettings
from cti.sqlengine import sqlite_path
from cti.store import Store
from pbx_adapters.asterisk.commands import ActionSender, AsteriskCommands
from pbx_adapters.asterisk.connection import AmiSettings
from pbx_adapters.asterisk.source import AsteriskSource
from pbx_adapters.asterisk.tls import AmiTls

__all__ = [
    "CONNECTORS",
    "ConnectorFactory",
    "OwnedSender",
    "ServerCommands",
    "ami_settings",
    "build_connectors",
    "check_private_state",
    "cluster_node",
    "load_site_settings",
    "oidc_login",
    "on_disk",
    "ticket_store",
    "web_policy",
    "websocket_origins",
]


def oidc_login(settings: Settings, store: Store, state_dir: Path) -> OidcLogin | None:
    """Single sign-on, when [oidc] names a provider."""
    if settings.oidc.issuer is None:
        return None
    callback = settings.http.public_origin.rstrip("/") + "/login/oidc/callback"
    return OidcLogin(settings.oidc, store, SecretBox.for_state_dir(state_dir), callback)


def on_disk(url: str) -> bool:
    """Whether another process can open the store at ``url`` (an in-memory SQLite cannot)."""
    parsed = make_url(url)
    return parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:")


def web_policy(http: HttpSettings) -> WebPolicy:
    return WebPolicy(
        session_max_age_s=http.session_max_age_s,
        agent_idle_s=http.agent_idle_s,
        supervisor_idle_s=http.supervisor_idle_s,
        admin_idle_s=http.admin_idle_s,
    )


def websocket_origins(settings: Settings) -> tuple[str, ...]:
    """Where pages may open sockets besides the daemon: the browser phones' websocket."""
    url = settings.webphone.ws_url
    if url is None:
        return ()
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}",)


def ami_settings(server: AmiServerSettings) -> AmiSettings:
    tls = AmiTls(server.tls, server.tls_ca_file, server.tls_verify)
    return AmiSettings(
        host=server.host,
        port=server.port,
        username=server.username,
        secret=server.secret.get_secret_value(),
        tls=tls.context(),
        ping_interval_s=server.ping_interval_s,
        backoff_base_s=server.reconnect_base_s,
        backoff_cap_s=server.reconnect_cap_s,
    )


ConnectorFactory = Callable[[CrmSettings, str, Mapping[str, str], RegionSource], CrmConnector]


def _builtin(
    crm: CrmSettings, url: str, environ: Mapping[str, str], regions: RegionSource
) -> CrmConnector:
    del crm, environ  # the built-in CRM's secrets, if any, are in its URL
    return BuiltinCrm.from_url(url, default_region=regions)  # the site's region, live


def _salesforce(
    crm: CrmSettings, url: str, environ: Mapping[str, str], regions: RegionSource
) -> CrmConnector:
    del url
    if crm.salesforce is None:
        raise ConfigError("connectors names salesforce but [crm.salesforce] is missing")
    table = crm.salesforce.connector_table()
    # Read once: a region an admin stores reaches Salesforce at the daemon's next start.
    table.setdefault("default_region", regions.default_region())
    try:
        return salesforce_from_config(table, environ=environ)
    except ConfigError as exc:  # the CLI prints the message only: name what is wrong in it
        where = ", ".join(f"{key}={value}" for key, value in exc.details.items())
        raise ConfigError(
            f"[crm.salesforce] {exc.message}" + (f" ({where})" if where else ""),
            details=exc.details,
        ) from exc


# The CRM connectors by the name ``[crm] connectors`` gives them; the built-in one always runs
# (its tables are the store's contacts and call history).
CONNECTORS: Mapping[str, ConnectorFactory] = MappingProxyType(
    {"builtin": _builtin, "salesforce": _salesforce}
)


def build_connectors(
    crm: CrmSettings,
    crm_url: str,
    environ: Mapping[str, str],
    regions: RegionSource | None = None,
) -> dict[str, CrmConnector]:
    """Build the built-in CRM and every configured connector, by name; secrets come from
    ``environ`` (the process environment, passed in by the CLI) or files."""
    names = ["builtin", *(name for name in crm.connectors if name != "builtin")]
    unknown = [name for name in names if name not in CONNECTORS]
    if unknown:
        raise ConfigError(
            f"[crm] connectors: unknown {', '.join(unknown)} (known: {', '.join(CONNECTORS)})",
            details={"connectors": ",".join(crm.connectors)},
        )
    source = regions or FixedRegion(crm.default_region)
    return {name: CONNECTORS[name](crm, crm_url, environ, source) for name in names}


def load_site_settings(store: Store, crm: CrmSettings) -> SiteSettings:
    """The site's settings, with the region stored so far for what reads it once (Salesforce);
    :meth:`Daemon.start` loads it again once the store is migrated."""
    chosen = "default_region" in crm.model_fields_set
    site = SiteSettings(store, crm.default_region, configured_by_site=chosen)
    with contextlib.suppress(StoreError):  # a store not migrated yet holds none
        site.load_sync()
    return site


def check_private_state(settings: Settings) -> None:
    """Create the state directory 0700; refuse a store or secret that others can read."""
    ensure_private_dir(settings.state_dir)
    for name in ("session-secret", "secrets.key"):
        check_private(settings.state_dir / name, "the secret")
    for url in (settings.store.url, settings.crm.builtin_url):
        database = sqlite_path(url) if url else None
        for path in (database, *(Path(f"{database}{end}") for end in ("-wal", "-shm"))):
            if database is not None and path is not None:
                check_private(path, "the store")


def cluster_node(settings: Settings) -> ClusterNode | None:
    """This node's part of a cluster when ``[cluster] broker_url`` is set (docs/scale-out.md)."""
    cluster = settings.cluster
    if cluster.broker_url is None:
        return None
    node = cluster.node_id or f"{socket.gethostname()}-{os.getpid()}"
    client, keys = connect(cluster.broker_url), BrokerKeys(cluster.prefix)
    return ClusterNode(
        node,
        fanout=RedisFanout(
            client,
            keys,
            node,
            replay_messages=cluster.replay_messages,
            replay_seconds=cluster.replay_seconds,
        ),
        leases=RedisLeases(client, keys),
        requests=RedisRequests(client, keys, node),
        servers=[server.name for server in settings.servers],
        lease_ttl_s=cluster.lease_ttl_s,
        request_timeout_s=cluster.request_timeout_s,
    )


def ticket_store(settings: Settings) -> RedisTickets | None:
    """Websocket tickets in the broker, so that any node redeems them (None: in memory)."""
    cluster = settings.cluster
    if cluster.broker_url is None:
        return None
    return RedisTickets(connect(cluster.broker_url), BrokerKeys(cluster.prefix))


OwnedSender = Callable[[str, Callable[[], ActionSender]], ActionSender]


class ServerCommands(Mapping[str, AsteriskCommands]):
    """Each Asterisk server's commands, read from the daemon's sources at each use.

    The sources are the configuration file's and those an admin added, changed or removed at
    runtime (:class:`cti.admin.servers.ServerRegistry` edits the same list), so click-to-dial,
    call control, queue pauses, recording and monitoring all reach the servers there are now.
    In one process a server's commands are its source's own (a changed server's are those of
    its new session); in a cluster they are built on ``owned`` (``ClusterNode.actions``): sent
    here if this node owns the server, else to its owner. ``items()`` and ``values()`` are
    snapshots, so a loop with awaits in it is not upset by an admin's change meanwhile.
    """

    def __init__(self, sources: Sequence[AsteriskSource], owned: OwnedSender | None) -> None:
        self._sources, self._owned = sources, owned
        self._built: dict[str, AsteriskCommands] = {}  # a cluster's, one per server name

    def _source(self, name: str) -> AsteriskSource | None:
        return next((source for source in self._sources if source.name == name), None)

    def prepare(self, name: str) -> None:
        """Build a cluster's commands of ``name`` before its source can hold the lease: building
        them is what lets this node, once the owner, answer other nodes' actions for it."""
        if self._owned is not None and name not in self._built:
            # They look the session up at each action: take-overs and changes replace it.
            owned = self._owned(name, lambda: self._connection(name))
            self._built[name] = AsteriskCommands(owned)

    def __getitem__(self, name: str) -> AsteriskCommands:
        source = self._source(name)
        if source is None:
            raise KeyError(name)
        if self._owned is None:
            return source.commands
        self.prepare(name)
        return self._built[name]

    def _connection(self, name: str) -> ActionSender:
        source = self._source(name)
        if source is None:
            raise AmiError(f"server {name} was removed", details={"server": name})
        return source.connection

    def __iter__(self) -> Iterator[str]:
        return iter([source.name for source in self._sources])

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, name: object) -> bool:
        return any(source.name == name for source in self._sources)

    def items(self) -> ItemsView[str, AsteriskCommands]:
        return {name: self[name] for name in self}.items()

    def values(self) -> ValuesView[AsteriskCommands]:
        return {name: self[name] for name in self}.values()
