"""What agents send over the websocket besides pings: notes and dispositions on their calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agent_ui.protocol import Disposition, Notes
from cti.errors import PermissionDenied
from cti.principal import Principal
from cti.store import Store

__all__ = ["AgentMessages"]


class AgentMessages:
    """What agents send over the websocket: notes and dispositions on calls they were shown.

    ``may_annotate(agent, call_id)`` is asked of the node tracking the call
    (``cti.cluster.pops``): in a cluster, the owner of the call's server, which may not be the
    node holding the agent's socket. It raises ``OwnerUnreachable`` when that node cannot be
    asked; nothing is kept then, and the agent's tab gets that error. What passes is kept in
    the store every node shares, from which the owner merges it into the call's record.
    """

    def __init__(self, store: Store, may_annotate: Callable[[str, str], Awaitable[bool]]) -> None:
        self._store = store
        self._may = may_annotate

    async def __call__(self, principal: Principal, message: Notes | Disposition) -> None:
        user = principal.username
        if not await self._may(user, message.call_id):
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
