"""What agents send over the websocket besides pings: notes and dispositions on their calls."""

from __future__ import annotations

from collections.abc import Callable

from agent_ui.protocol import Disposition, Notes
from cti.errors import PermissionDenied
from cti.principal import Principal
from cti.store import Store

__all__ = ["AgentMessages"]


class AgentMessages:
    """What agents send over the websocket: notes and dispositions on calls they were shown."""

    def __init__(self, store: Store, may_annotate: Callable[[str, str], bool]) -> None:
        self._store = store
        self._may = may_annotate

    async def __call__(self, principal: Principal, message: Notes | Disposition) -> None:
        user = principal.username
        if not self._may(user, message.call_id):
            raise PermissionDenied(
                "you can only write notes on calls that rang or reached you",
                details={"call_id": message.call_id},
            )
        notes_so_far = await self._store.aio.run(self._store.notes_for, message.call_id)
        mine = [n for n in notes_so_far if n.username == user]
        notes = mine[0].notes if mine else ""
        disposition = mine[0].disposition if mine else None
        if isinstance(message, Notes):
            notes = message.text
        else:
            disposition = message.value
        await self._store.aio.run(self._store.save_notes, message.call_id, user, notes, disposition)
