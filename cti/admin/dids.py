"""The admin console's groups and DIDs: which group each dialled number pops for.

Every change is written to the history and refreshes the daemon's in-memory directory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from cti.admin.history import AdminHistory
from cti.errors import NotFound, ValidationFailed
from cti.store import GroupSpec, Store

__all__ = ["DidAdmin"]


class DidAdmin:
    """Create groups with their own queue, and map DIDs to groups."""

    def __init__(
        self,
        store: Store,
        history: AdminHistory,
        refresh_directory: Callable[[], Awaitable[None]],
    ) -> None:
        self._store = store
        self._history = history
        self._refresh = refresh_directory

    async def dids(self) -> list[dict[str, Any]]:
        groups = await self._store.aio.run(self._store.groups)
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
        spec = GroupSpec(
            name=name, dids=tuple(_did(d) for d in dids), queues=(queue[:128],), template=template
        )
        await self._store.aio.run(self._store.create_group, spec)
        details = {"group": name, "dids": list(spec.dids), "queue": queue}
        self._history.record("admin.group_created", details, actor)
        await self._refresh()

    async def map_did(self, did: str, group: str | None, actor: str) -> None:
        """Map ``did`` to ``group`` (None: unmap it), moving it from any other group."""
        did = _did(did)
        store = self._store
        groups = await store.aio.run(store.groups)
        if group is not None and group not in {g.name for g in groups}:
            raise NotFound("no such group", details={"group": group})
        for info in groups:
            spec = info.spec
            wants = info.name == group
            if (did in spec.dids) != wants:
                new = tuple(d for d in spec.dids if d != did) + ((did,) if wants else ())
                await store.aio.run(store.update_group, info.name, replace(spec, dids=new))
        self._history.record("admin.did_mapped", {"did": did, "group": group}, actor)
        await self._refresh()


def _did(text: str) -> str:
    did = text.strip().removeprefix("+")
    if not did.isdigit() or not 2 <= len(did) <= 32:
        raise ValidationFailed(
            "a DID is 2 to 32 digits (an optional + dropped)", details={"did": text[:40]}
        )
    return did
