"""Asterisk servers added, changed and removed at runtime; config-file servers stay read-only.

Stored servers (table ``ami_servers``) each get an :class:`AsteriskSource` in the daemon's list
of sources; a change closes the old source and starts a new one. Every change is an event.
Their AMI secrets are stored sealed (:class:`cti.secretbox.SecretBox`), never in the clear.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update

from cti.errors import ConfigError, Conflict, NotFound, ValidationFailed
from cti.secretbox import SecretBox
from cti.store import Store
from cti.store.models import ami_servers
from pbx_adapters.asterisk.connection import AmiSettings
from pbx_adapters.asterisk.source import AsteriskSource
from pbx_adapters.asterisk.tls import AmiTls

__all__ = ["ServerRegistry", "ServerSpec", "SourceRunner"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_HOST = re.compile(r"[A-Za-z0-9_.:\[\]-]{1,255}")
_SAFE = re.compile(r"[^\r\n\x00]{1,255}")

SourceFactory = Callable[[str, AmiSettings], AsteriskSource]


class SourceRunner(Protocol):
    """How an added server's source runs: at once (one process), or on the node holding its
    AMI lease (a cluster: ``cti.cluster.node.LeasedSources``)."""

    async def run(self, source: AsteriskSource) -> None: ...
    async def stop(self, source: AsteriskSource) -> None: ...


class _RunHere:
    async def run(self, source: AsteriskSource) -> None:
        await source.start()

    async def stop(self, source: AsteriskSource) -> None:
        await source.close()


@dataclass(frozen=True, slots=True)
class ServerSpec:
    name: str
    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    tls: bool = False
    tls_ca_file: str | None = None  # on the daemon's host; None: the system's trust store
    tls_verify: bool = True

    def __post_init__(self) -> None:
        problems: dict[str, object] = {}
        if not _NAME.fullmatch(self.name):
            problems["name"] = "1 to 40 of A-Z a-z 0-9 . _ -"
        if not _HOST.fullmatch(self.host):
            problems["host"] = "a host name or address"
        if isinstance(self.port, bool) or not 0 < self.port < 65536:
            problems["port"] = "1 to 65535"
        if not _SAFE.fullmatch(self.username) or len(self.username) > 64:
            problems["username"] = "1 to 64 characters, no line breaks"
        if not _SAFE.fullmatch(self.secret):
            problems["secret"] = "1 to 255 characters, no line breaks"  # noqa: S105
        if not self.tls and (self.tls_ca_file or not self.tls_verify):
            problems["tls"] = "a CA file and verification apply to AMI over TLS: turn TLS on"
        if self.tls_ca_file is not None and not (
            self.tls_ca_file.startswith("/") and _SAFE.fullmatch(self.tls_ca_file)
        ):
            problems["tls_ca_file"] = "an absolute path on the daemon's host"
        if problems:
            raise ValidationFailed("the server settings are not valid", details=problems)

    @property
    def tls_settings(self) -> AmiTls:
        ca = None if self.tls_ca_file is None else Path(self.tls_ca_file)
        return AmiTls(self.tls, ca, self.tls_verify)

    def check_tls(self) -> None:
        """Refuse (422) a CA file the daemon cannot read or that holds no certificate."""
        try:
            self.tls_settings.context()
        except ConfigError as exc:
            raise ValidationFailed(exc.message, details={"tls_ca_file": exc.message}) from exc

    def ami_settings(self) -> AmiSettings:
        context = self.tls_settings.context()
        return AmiSettings(
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self.secret,
            tls=context,
            backoff_base_s=0.5,
            backoff_cap_s=15.0,
        )


class ServerRegistry:
    """The daemon's AMI sources: those of the config file and those an admin added."""

    def __init__(
        self,
        store: Store,
        sources: list[AsteriskSource],
        make_source: SourceFactory,
        *,
        secrets: SecretBox,
        config_hosts: dict[str, tuple[str, int, str, bool]],
        on_removed: Callable[[str], None] = lambda name: None,
        clock: Callable[[], float] = time.monotonic,
        runner: SourceRunner | None = None,
    ) -> None:
        self._store, self.sources, self._make = store, sources, make_source
        self._secrets = secrets
        self._config = config_hosts  # name -> (host, port, username, tls), never editable
        self._on_removed = on_removed
        self._clock = clock
        self._rates: dict[str, tuple[float, int, float]] = {}  # name -> (at, events, per second)
        self._runner: SourceRunner = runner or _RunHere()
        self.shared = runner is not None  # several nodes: follow what other nodes' admins store
        self._running: dict[str, ServerSpec] = {}  # the added servers with a source, as stored

    def stored(self) -> list[ServerSpec]:
        with self._store.reading("admin.servers") as conn:
            rows = conn.execute(select(ami_servers).order_by(ami_servers.c.name)).all()
        return [
            ServerSpec(
                r.name,
                r.host,
                r.port,
                r.username,
                self._secrets.open(r.secret),
                bool(r.tls),
                r.tls_ca_file,
                bool(r.tls_verify),
            )
            for r in rows
        ]

    def seal_stored(self) -> int:
        """Seal the secrets stored before sealing existed; return how many."""
        with self._store.writing("admin.server_seal") as conn:
            rows = conn.execute(select(ami_servers.c.id, ami_servers.c.secret)).all()
            plain = [r for r in rows if not SecretBox.is_sealed(r.secret)]
            for r in plain:
                conn.execute(
                    update(ami_servers)
                    .where(ami_servers.c.id == r.id)
                    .values(secret=self._secrets.seal(r.secret))
                )
        return len(plain)

    async def start(self) -> None:
        """Start a source for every stored server (after the config-file ones)."""
        self.seal_stored()
        for spec in self.stored():
            if spec.name not in self._config:
                await self._start(spec)

    async def sync(self) -> None:
        """Follow the stored servers: those another node's admin added, changed or removed
        start, restart or stop here too (a cluster calls this every few seconds)."""
        stored = await asyncio.to_thread(self.stored)
        wanted = {spec.name: spec for spec in stored if spec.name not in self._config}
        for name in [n for n in self._running if n not in wanted]:
            await self._stop(name)
        for name, spec in wanted.items():
            if self._running.get(name) != spec:
                if name in self._running:
                    await self._stop(name)
                await self._start(spec)

    async def _start(self, spec: ServerSpec) -> None:
        source = self._make(spec.name, spec.ami_settings())
        self.sources.append(source)
        self._running[spec.name] = spec
        await self._runner.run(source)

    async def _stop(self, name: str) -> None:
        for source in [s for s in self.sources if s.name == name]:
            self.sources.remove(source)
            await self._runner.stop(source)
        self._running.pop(name, None)
        self._rates.pop(name, None)
        self._on_removed(name)

    def _check_editable(self, name: str) -> None:
        if name in self._config:
            raise Conflict(
                f"server {name} comes from the configuration file; change it there",
                details={"server": name},
            )

    async def add(self, spec: ServerSpec) -> None:
        self._check_editable(spec.name)
        spec.check_tls()
        now = self._store.clock()
        with self._store.writing("admin.server_add") as conn:
            if conn.execute(
                select(ami_servers.c.id).where(ami_servers.c.name == spec.name)
            ).first():
                raise Conflict("a server with that name exists", details={"server": spec.name})
            row = self._row(spec)
            conn.execute(insert(ami_servers).values(**row, created_at=now, updated_at=now))
        await self._start(spec)

    async def update(self, name: str, spec: ServerSpec) -> None:
        self._check_editable(name)
        if spec.name != name:
            self._check_editable(spec.name)
        spec.check_tls()
        with self._store.writing("admin.server_update") as conn:
            done = conn.execute(
                update(ami_servers)
                .where(ami_servers.c.name == name)
                .values(**self._row(spec), updated_at=self._store.clock())
            )
            if done.rowcount == 0:
                raise NotFound("no such server", details={"server": name})
        await self._stop(name)
        await self._start(spec)

    async def remove(self, name: str) -> None:
        self._check_editable(name)
        with self._store.writing("admin.server_remove") as conn:
            done = conn.execute(delete(ami_servers).where(ami_servers.c.name == name))
            if done.rowcount == 0:
                raise NotFound("no such server", details={"server": name})
        await self._stop(name)

    def _row(self, spec: ServerSpec) -> dict[str, Any]:
        return {
            "name": spec.name,
            "host": spec.host,
            "port": spec.port,
            "username": spec.username,
            "secret": self._secrets.seal(spec.secret),
            "tls": spec.tls,
            "tls_ca_file": spec.tls_ca_file,
            "tls_verify": spec.tls_verify,
        }

    def sample(self) -> None:
        """Update each source's events per second (call every few seconds)."""
        now = self._clock()
        for source in self.sources:
            count = source.connection.stats.events
            at, before, rate = self._rates.get(source.name, (now, count, 0.0))
            if now - at >= 1.0:
                rate = (count - before) / (now - at)
                at, before = now, count
            self._rates[source.name] = (at, before, rate)

    def status(self) -> list[dict[str, Any]]:
        """Every server with its live state; never a secret."""
        stored = {s.name: s for s in self.stored()}
        out = []
        for source in self.sources:
            conn = source.connection
            spec = stored.get(source.name)
            host, port, user, tls = self._config.get(source.name) or (
                (spec.host, spec.port, spec.username, spec.tls) if spec else ("", 0, "", False)
            )
            out.append(
                {
                    "name": source.name,
                    "origin": "config" if source.name in self._config else "admin",
                    "editable": source.name not in self._config,
                    "host": host,
                    "port": port,
                    "username": user,
                    "tls": tls,
                    # an admin's server only: the config file's say theirs there
                    "tls_ca_file": spec.tls_ca_file if spec else None,
                    "tls_verify": spec.tls_verify if spec else None,
                    "state": conn.state.value,
                    "ready": conn.ready,
                    "last_error": conn.stats.last_error,
                    "events": conn.stats.events,
                    "events_per_second": round(self._rates.get(source.name, (0, 0, 0.0))[2], 2),
                    "resyncs": source.resyncs,
                    "connects": conn.stats.connects,
                    "reconnects": conn.stats.reconnects,
                    "version": conn.version,
                }
            )
        return out
