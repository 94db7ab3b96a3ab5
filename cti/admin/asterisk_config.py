"""The admin console's Asterisk configuration: the generated include files, their diff against
the files in ``[provisioning] config_dir``, and applying them (write, then reload through the
admin credential). The generation itself is pure (:mod:`cti.admin.pbxconf`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from cti.admin import records
from cti.admin.admin_link import AdminLink
from cti.admin.history import AdminHistory
from cti.admin.pbxconf import (
    GENERATED_FILES,
    ConfStyle,
    EmergencyRouting,
    SiteDevice,
    diff,
    generate,
)
from cti.config import ProvisioningSettings
from cti.errors import AmiError, ConfigError
from cti.store import Store

__all__ = ["AsteriskConfig"]


class AsteriskConfig:
    """Preview and apply the generated PJSIP, queue and DID include files."""

    def __init__(
        self, settings: ProvisioningSettings, store: Store, link: AdminLink, history: AdminHistory
    ) -> None:
        self._dir = settings.config_dir
        self._store = store
        self._link = link
        self._history = history
        self._style = ConfStyle(
            realm=settings.sip_realm,
            context=settings.agent_context,
            endpoint_template=settings.endpoint_template,
            aor_template=settings.aor_template,
            webrtc_template=settings.webrtc_template,
        )
        self._emergency = EmergencyRouting(
            tuple(settings.emergency_numbers), settings.emergency_trunk
        )
        self._site_devices: Callable[[str], Awaitable[Sequence[SiteDevice]]] | None = None

    def use_site(self, devices: Callable[[str], Awaitable[Sequence[SiteDevice]]]) -> None:
        """Generate the site's devices too (cti.site; given the SIP realm, it returns them)."""
        self._site_devices = devices

    async def preview(self) -> dict[str, Any]:
        agents = await self._store.aio.run(records.provisioned_agents, self._store)
        groups = await self._store.aio.run(records.group_routings, self._store)
        devices = await self._site_devices(self._style.realm) if self._site_devices else ()
        files = generate(agents, groups, self._style, devices, self._emergency)
        current = await asyncio.to_thread(self._read_current)
        return {
            "files": files,
            "diffs": diff(current, files),
            "config_dir": str(self._dir) if self._dir else None,
            "can_write": self._dir is not None,
            "can_reload": self._link.configured,
            "agents": len(agents),
        }

    async def apply(self, actor: str, *, reload: bool = True) -> dict[str, Any]:
        """Write the changed include files, then reload Asterisk through the admin credential."""
        directory = self._dir
        if directory is None:
            raise ConfigError("set [provisioning] config_dir to write the generated files")
        preview = await self.preview()
        changed = sorted(preview["diffs"])
        await asyncio.to_thread(_write_files, directory, {n: preview["files"][n] for n in changed})
        answers: list[str] = []
        error = None
        if reload and changed:
            try:
                answers = await (await self._link.pjsip()).reload()
            except (AmiError, ConfigError) as exc:
                error = exc.message
        details = {"files": changed, "reload": answers, "error": error}
        self._history.record("admin.config_applied", details, actor)
        return {"changed": changed, "reloaded": answers, "reload_error": error}

    def _read_current(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name in GENERATED_FILES:
            path = self._dir / name if self._dir else None
            out[name] = path.read_text() if path is not None and path.is_file() else None
        return out


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
