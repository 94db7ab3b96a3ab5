"""The wallboard's API side: read a group's board, and set its alert thresholds.

Who may: the group's supervisors and admins (:meth:`SupervisorConsole.group`: 403 for a group
the supervisor does not own, 404 for none); a bad body is refused whole (422 naming the field)
before anything is written. A change is in the store before the answer, and in the feed's
next board at once (it does not wait for the groups' reload).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cti.principal import Principal
from cti.store.audit import append_event
from cti.supervision.console import SupervisorConsole
from cti.supervision.thresholds import parse_thresholds, save_thresholds, thresholds_json

__all__ = ["Wallboards"]


class Wallboards:
    """Each group's wallboard, as its owners may see and tune it."""

    def __init__(self, console: SupervisorConsole) -> None:
        self._console = console

    async def board(self, principal: Principal, group: str) -> dict[str, Any]:
        """The board of ``group`` now (what the ``wallboard`` frame carries)."""
        info = await self._console.group(principal, group)
        return self._console.feed.board(info)

    async def set_thresholds(
        self, principal: Principal, group: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace ``group``'s thresholds with ``body``'s; return them as stored."""
        info = await self._console.group(principal, group)
        thresholds = parse_thresholds(body)
        store = self._console.store

        def write() -> None:
            with store.writing("wallboard.thresholds.set") as conn:  # both, or neither
                save_thresholds(conn, info.name, thresholds, principal.username)
                details = {"group": info.name, **thresholds_json(thresholds)}
                append_event(
                    conn, "supervisor.wallboard.thresholds", details, principal.username,
                    store.clock(),
                )  # fmt: skip

        await store.aio.run(write)
        self._console.feed.set_thresholds(info.name, thresholds)
        return {"group": info.name, "thresholds": thresholds_json(thresholds)}
