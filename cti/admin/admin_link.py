"""The optional admin AMI session (``[provisioning]`` admin credential): PJSIP trunk listings and
``module reload`` after new configuration files. Opened on first use, kept until close."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cti.admin.servers import ServerSpec
from cti.config import AmiServerSettings, ProvisioningSettings
from cti.errors import ConfigError
from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings
from pbx_adapters.asterisk.pjsip import PjsipAdmin

__all__ = ["AdminLink"]


class AdminLink:
    """The admin credential's AMI session on the provisioning server."""

    def __init__(
        self,
        settings: ProvisioningSettings,
        config_servers: Sequence[AmiServerSettings],
        stored_servers: Callable[[], list[ServerSpec]],
    ) -> None:
        self._settings = settings
        self._config_servers = {s.name: s for s in config_servers}
        self._stored = stored_servers
        self._link: AmiConnection | None = None

    @property
    def configured(self) -> bool:
        """Whether an admin credential and its server are set (reloads are possible)."""
        return bool(self._settings.admin_username and self._settings.server)

    async def pjsip(self) -> PjsipAdmin:
        """The session, opened if needed and ready; ConfigError without a credential."""
        if self._link is None:
            self._link = AmiConnection("admin", self._ami_settings(), lambda f, t: None)
            await self._link.start()
        await self._link.wait_ready(5.0)
        return PjsipAdmin(self._link)

    async def close(self) -> None:
        if self._link is not None:
            await self._link.close()
            self._link = None

    def _ami_settings(self) -> AmiSettings:
        s = self._settings
        if not (s.admin_username and s.admin_secret and s.server):
            raise ConfigError(
                "no admin AMI credential: set [provisioning] server, admin_username and "
                "admin_secret (a manager.conf user with write = system)",
                details={"setting": "provisioning.admin_username"},
            )
        server = self._config_servers.get(s.server)
        spec = next((x for x in self._stored() if x.name == s.server), None)
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
