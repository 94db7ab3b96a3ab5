"""Questions about a call's pop from any node, answered by the node that owns the call's server.

Only the node holding a server's AMI lease tracks its calls, so only its pop service knows
which agents were shown a call and can look the caller up again (``PopService.was_shown``,
``look_up_again``). The desktop's CRM actions tied to a call may reach any node: on the owner
:class:`OwnedPops` asks the local service, elsewhere it asks the owner over the broker
(``{"kind": "pop"}`` requests, :func:`answer_pop` on the owner's side). An owner that cannot be
asked is :class:`OwnerUnreachable` (503), never a "not shown to you". :class:`LocalPops` is the
single process's, where every call is local.

Those answers live in memory: a call that ended before its node restarted, or before its
server changed owner, is known to no pop service. :class:`RecordedPops` then asks the call's
record (queued in the shared store at hangup), which names the agents it rang and the one who
answered: they may still annotate it and act on it in their wrap-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from cti.cluster.actions import Requests
from cti.cluster.ownership import Ownership
from cti.errors import OwnerUnreachable

__all__ = [
    "QUESTION_KIND",
    "AskedPops",
    "CallPops",
    "LocalPops",
    "OwnedPops",
    "RecordedPops",
    "answer_pop",
]

QUESTION_KIND = "pop"  # the requests of this module; AMI actions carry no kind
Question = Literal["was_shown", "look_up_again"]


class CallPops(Protocol):
    """What the pop service of the node tracking a call knows (``cti.pop.PopService``)."""

    def was_shown(self, agent: str, call_id: str) -> bool: ...
    def look_up_again(self, call_id: str) -> bool: ...


class AskedPops(Protocol):
    """The same questions, asked of whoever answers them (``LocalPops``, ``OwnedPops``)."""

    async def was_shown(self, agent: str, call_id: str) -> bool: ...
    async def look_up_again(self, call_id: str) -> bool: ...


class LocalPops:
    """One process: every call's pops are this process's own."""

    def __init__(self, local: CallPops) -> None:
        self._local = local

    async def was_shown(self, agent: str, call_id: str) -> bool:
        return self._local.was_shown(agent, call_id)

    async def look_up_again(self, call_id: str) -> bool:
        return self._local.look_up_again(call_id)


class OwnedPops:
    """Ask a call's pop questions here if this node owns its server, else of its owner."""

    def __init__(
        self, local: CallPops, ownership: Ownership, requests: Requests, timeout_s: float
    ) -> None:
        self._local, self._ownership = local, ownership
        self._requests, self._timeout = requests, timeout_s

    async def was_shown(self, agent: str, call_id: str) -> bool:
        """Whether ``agent`` got a pop of ``call_id``, from the node tracking the call."""
        server = self._remote_server(call_id)
        if server is None:
            return self._local.was_shown(agent, call_id)
        return await self._ask(server, "was_shown", call_id, agent)

    async def look_up_again(self, call_id: str) -> bool:
        """Have the node tracking ``call_id`` repeat its CRM lookup; False if the call is over."""
        server = self._remote_server(call_id)
        if server is None:
            return self._local.look_up_again(call_id)
        return await self._ask(server, "look_up_again", call_id, "")

    def _remote_server(self, call_id: str) -> str | None:
        """The server of ``call_id`` when another node owns it; None to answer here.

        Call ids are ``<server>:<linkedid>`` (``cti.core.ledger``). One naming no server of the
        cluster was never shown to anyone: the local service says so, without a round trip.
        """
        server, sep, _ = call_id.partition(":")
        if not sep or server not in self._ownership.servers or self._ownership.owns(server):
            return None
        return server

    async def _ask(self, server: str, question: Question, call_id: str, agent: str) -> bool:
        owner = self._ownership.owner_of(server)
        if owner is None:
            raise OwnerUnreachable(
                f"no node owns the AMI session of {server} now", details={"server": server}
            )
        body = {
            "kind": QUESTION_KIND,
            "server": server,
            "question": question,
            "call_id": call_id,
            "agent": agent,
        }
        reply = await self._requests.ask(owner, body, self._timeout)
        if "error" in reply:
            error = reply["error"]
            raise OwnerUnreachable(
                str(error.get("message")), details=dict(error.get("details") or {})
            )
        return bool(reply.get("answer"))


class RecordedPops:
    """Pop questions with the call's record as a second witness (see the module's text)."""

    def __init__(self, pops: AskedPops, named: Callable[[str, str], Awaitable[bool]]) -> None:
        """``named(call_id, agent)``: whether the ended call's record names ``agent``."""
        self._pops, self._named = pops, named

    async def was_shown(self, agent: str, call_id: str) -> bool:
        """Shown by the node tracking the call, or named by its record. An unreachable owner
        is asked no further when the record answers; otherwise it stays an error (503)."""
        try:
            if await self._pops.was_shown(agent, call_id):
                return True
        except OwnerUnreachable:
            if await self._named(call_id, agent):
                return True
            raise
        return await self._named(call_id, agent)

    async def look_up_again(self, call_id: str) -> bool:
        return await self._pops.look_up_again(call_id)


def answer_pop(
    body: dict[str, Any], ownership: Ownership, local: CallPops | None
) -> dict[str, Any]:
    """Answer another node's question about a call of a server we own, as plain data."""
    server = str(body.get("server"))
    if local is None or not ownership.owns(server):
        return _unreachable(f"node {ownership.node} does not own {server}", server)
    call_id, question = str(body.get("call_id")), body.get("question")
    if question == "was_shown":
        return {"answer": local.was_shown(str(body.get("agent")), call_id)}
    if question == "look_up_again":
        return {"answer": local.look_up_again(call_id)}
    return _unreachable(f"node {ownership.node} cannot answer {question!r}", server)


def _unreachable(message: str, server: str) -> dict[str, Any]:
    error = OwnerUnreachable(message, details={"server": server})
    return {"error": {"id": error.error_id, "message": error.message, "details": error.details}}
