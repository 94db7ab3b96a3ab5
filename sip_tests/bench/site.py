"""A call-centre site for benchmarks and drills: a store with agents and a CRM, and the daemon.

:func:`seed_site` fills a fresh SQLite store with ``agents`` agents (``b0000``, ``b0001``, ...
on phones ``PJSIP/b0000``, ...) and one admin (``badmin``, no phone) in one transaction, without
passwords: benchmark clients carry session cookies minted with the site's secret and recorded in
the store's session book (:meth:`Site.cookie`, :meth:`Site.admin_cookie`) instead of logging in,
which would cost an argon2 hash each. The built-in
CRM gets ``contacts`` generated contacts (:func:`crm_connectors.builtin.seed_bulk`), so every
benchmark caller is somebody. :class:`SiteDaemon` runs the real ``cti serve`` on that site in a
process of its own (:class:`sip_tests.daemon.ServeProcess`, the launcher tests and drills use
too).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr
from sqlalchemy import create_engine, insert

from agent_ui.session import SessionCodec
from crm_connectors.builtin import seed_bulk
from crm_connectors.builtin import upgrade as upgrade_crm
from crm_connectors.builtin.bulk_rows import main_number
from cti.accounts.sessions import SessionBook
from cti.config import StoreSettings
from cti.principal import Principal, Role
from cti.store import Store
from cti.store.models import agent_endpoints
from cti.store.models import agents as agent_rows
from sip_tests.daemon import ServeProcess, free_tcp_port

__all__ = ["ADMIN", "Site", "SiteDaemon", "agent_name", "agent_of", "phone_of", "seed_site"]

ADMIN = "badmin"  # the site's admin account: reads reports (sip_tests.bench.report_reader)
_SESSION_S = 12 * 3600


def agent_name(index: int) -> str:
    return f"b{index:04d}"


def phone_of(index: int) -> str:
    return f"PJSIP/{agent_name(index)}"


def agent_of(phone: str) -> int | None:
    """The index of the agent whose phone is ``phone`` (None: no agent's)."""
    name = phone.removeprefix("PJSIP/")
    if len(name) != 5 or not name.startswith("b") or not name[1:].isdigit():
        return None
    return int(name[1:])


@dataclass(frozen=True, slots=True)
class Site:
    """Where a benchmark site lives and what it holds."""

    workdir: Path
    agents: int
    contacts: int
    secret: str
    database: str | None = None  # a PostgreSQL URL (a cluster's store); None: SQLite in workdir

    @property
    def store_url(self) -> str:
        return self.database or f"sqlite:///{self.workdir / 'cti.sqlite3'}"

    def caller(self, call: int) -> str:
        """The number call ``call`` comes from: one of the CRM's contacts."""
        return main_number(1 + call % self.contacts)

    def cookie(self, index: int) -> str:
        """A session cookie value for agent ``index``, as a login would have set it (and the
        session recorded in the store, where the daemon checks it)."""
        name = agent_name(index)
        return self._session(Principal(name, f"Bench {name}", Role.AGENT))

    def admin_cookie(self) -> str:
        """A session cookie value for the site's admin (:data:`ADMIN`), as :meth:`cookie`."""
        return self._session(Principal(ADMIN, "Bench admin", Role.ADMIN))

    def _session(self, principal: Principal) -> str:
        codec = SessionCodec(SecretStr(self.secret), max_age_s=_SESSION_S)
        session, value = codec.issue(principal)
        store = Store.from_settings(StoreSettings(url=self.store_url))
        try:
            known = SessionBook(store).register(
                session.session_id,
                principal.username,
                str(principal.role),
                session.expires_at,
                _SESSION_S,
            )
        finally:
            store.close()
        if not known:
            raise RuntimeError(f"the site has no {principal.role} {principal.username!r}")
        return value


def seed_site(workdir: Path, *, agents: int, contacts: int, database: str | None = None) -> Site:
    """Create the store (SQLite, or the empty ``database``), the agents and their phones, and
    the CRM; return the site."""
    workdir.mkdir(parents=True, exist_ok=True)
    site = Site(workdir, agents, contacts, secrets.token_urlsafe(48), database)
    store = Store.from_settings(StoreSettings(url=site.store_url))
    try:
        store.upgrade()
    finally:
        store.close()
    engine = create_engine(site.store_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(agent_rows),
                [
                    {
                        "id": i + 1,
                        "username": agent_name(i),
                        "display_name": f"Bench {agent_name(i)}",
                        "email": None,
                        "password_hash": None,
                        "role": "agent",
                        "active": True,
                        "created_at": now,
                    }
                    for i in range(agents)
                ]
                + [
                    {
                        "id": agents + 1,
                        "username": ADMIN,
                        "display_name": "Bench admin",
                        "email": None,
                        "password_hash": None,
                        "role": "admin",
                        "active": True,
                        "created_at": now,
                    }
                ],
            )
            conn.execute(
                insert(agent_endpoints),
                [
                    {"agent_id": i + 1, "endpoint": phone_of(i), "server": None}
                    for i in range(agents)
                ],
            )
    finally:
        engine.dispose()
    upgrade_crm(site.store_url)
    seed_bulk(site.store_url, contacts)
    return site


@dataclass
class SiteDaemon(ServeProcess):
    """``cti serve`` on a site, with its AMI pointed at ``ami_port``; it logs warnings only.

    :meth:`start` returns once ``/healthz`` answers at all: a benchmark waits for AMI itself.
    """

    site: Site
    ami_port: int
    port: int = field(default_factory=free_tcp_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path = field(init=False)

    start_timeout_s: ClassVar[float] = 60.0
    start_until_healthy: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.workdir = self.site.workdir

    @property
    def store_url(self) -> str:
        return self.site.store_url

    def settings_env(self) -> dict[str, str]:
        server = {
            "name": "bench",
            "port": self.ami_port,
            "username": "cti",
            "secret": "bench",
            "reconnect_base_s": 0.2,
            "reconnect_cap_s": 1.0,
        }
        return {
            "CTI_SERVERS": json.dumps([server]),
            "CTI_HTTP__SESSION_SECRET": self.site.secret,
            "CTI_LOG_LEVEL": "WARNING",
        }
