"""AMI actions from any node, run on the node that owns the server's session.

:class:`OwnedActions` is the ``ActionSender`` the commands of one server use on every node:
on the owner it is the local AMI connection; elsewhere it asks the owner over the broker
(:class:`Requests`) and rebuilds the reply's frames. :func:`answer` is the owner's side.
Errors cross as their stable ids, so a refused Originate is the same ``ami.action_failed``
on every node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from cti.cluster.ownership import Ownership
from cti.errors import (
    AmiActionFailed,
    AmiConnectionLost,
    AmiError,
    CtiError,
    OwnerUnreachable,
)
from pbx_adapters.asterisk.commands import ActionSender
from pbx_adapters.asterisk.frame import AmiFrame

__all__ = ["OwnedActions", "Requests", "answer"]

_ERRORS: dict[str, type[CtiError]] = {
    cls.error_id: cls for cls in (AmiActionFailed, AmiConnectionLost, AmiError, OwnerUnreachable)
}


class Requests(Protocol):
    async def ask(self, node: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]: ...


class OwnedActions:
    """Send one server's AMI actions here if this node owns it, else to its owner."""

    def __init__(
        self,
        server: str,
        local: Callable[[], ActionSender],
        ownership: Ownership,
        requests: Requests,
        timeout_s: float,
    ) -> None:
        self._server, self._local, self._ownership = server, local, ownership
        self._requests, self._timeout = requests, timeout_s

    async def send_action(
        self,
        action: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        timeout_s: float | None = None,
    ) -> AmiFrame | list[AmiFrame]:
        if self._ownership.owns(self._server):
            return await self._local().send_action(action, timeout_s=timeout_s)
        owner = self._ownership.owner_of(self._server)
        if owner is None:
            raise OwnerUnreachable(
                f"no node owns the AMI session of {self._server} now",
                details={"server": self._server},
            )
        pairs = list(action.items()) if isinstance(action, Mapping) else list(action)
        body = {"server": self._server, "action": pairs, "timeout_s": timeout_s}
        reply = await self._requests.ask(owner, body, (timeout_s or self._timeout) + 1.0)
        return _decoded(reply)


async def answer(
    body: dict[str, Any], ownership: Ownership, local: Callable[[str], ActionSender]
) -> dict[str, Any]:
    """Run another node's action on our session of its server; the reply as plain data."""
    server = str(body.get("server"))
    if not ownership.owns(server):
        return _error(
            OwnerUnreachable(f"this node does not own {server}", details={"server": server})
        )
    try:
        action = [(str(k), str(v)) for k, v in body["action"]]
        result = await local(server).send_action(action, timeout_s=body.get("timeout_s"))
    except CtiError as exc:
        return _error(exc)
    if isinstance(result, list):
        return {"frames": [list(frame) for frame in result]}
    return {"frame": list(result)}


def _error(exc: CtiError) -> dict[str, Any]:
    return {"error": {"id": exc.error_id, "message": exc.message, "details": exc.details}}


def _decoded(reply: dict[str, Any]) -> AmiFrame | list[AmiFrame]:
    if "error" in reply:
        error = reply["error"]
        cls = _ERRORS.get(error.get("id"), AmiError)
        raise cls(str(error.get("message")), details=dict(error.get("details") or {}))
    if "frames" in reply:
        return [AmiFrame.from_pairs(frame) for frame in reply["frames"]]
    return AmiFrame.from_pairs(reply["frame"])
