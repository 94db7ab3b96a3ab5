"""Queue membership over AMI: pause and unpause agents' phones, list every member's state.

Implements :class:`cti.agent_state.QueueControl` for any number of Asterisk servers. An agent's
phone may be a member of queues on one server only, so a pause goes to each server and counts
as done where a queue has the interface (``QueuePause`` answers ``Error`` elsewhere).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from cti.core.events import WEBRTC_SUFFIX, QueueMemberChanged, is_site_device
from cti.errors import AmiActionFailed, CtiError
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.frame import AmiFrame

__all__ = ["AsteriskQueues", "queue_member"]

log = logging.getLogger(__name__)


class AsteriskQueues:
    """Queue pauses and member listings on every Asterisk server.

    ``servers`` is read at each call: the composition root's mapping follows the servers an
    admin adds or removes at runtime.
    """

    def __init__(self, servers: Mapping[str, AsteriskCommands]) -> None:
        self._servers = servers

    async def pause(self, interface: str, paused: bool, reason: str) -> bool:
        """``QueuePause`` ``interface`` in all its queues on every server; False if in none.

        A ``PJSIP/<ext>`` agent's browser phone (``PJSIP/<ext>-webrtc``) is a queue member of
        its own (asterisk-config/queues.conf): it is paused and unpaused with the desk phone.
        A device added by MAC (``PJSIP/d<mac>``) is a member of its own too, and one of the
        agent's phones in the directory, so the agent's pause reaches it as its own interface;
        it has no browser phone.
        """
        known = False
        unreachable: CtiError | None = None
        interfaces = [interface]
        if (
            interface.startswith("PJSIP/")
            and not interface.endswith(WEBRTC_SUFFIX)
            and not is_site_device(interface)
        ):
            interfaces.append(interface + WEBRTC_SUFFIX)
        for name, commands in self._servers.items():
            for each in interfaces:
                try:
                    await commands.queue_pause(each, paused, reason=reason if paused else "")
                except AmiActionFailed as exc:  # "Interface not found": not a member there
                    log.debug("%s: QueuePause %s refused: %s", name, each, exc)
                    continue
                except CtiError as exc:  # not connected (or no owner): the others still pause
                    log.warning("%s: QueuePause %s not sent: %s", name, each, exc)
                    unreachable = unreachable or exc
                    break
                known = True
        if not known and unreachable is not None:  # maybe a member on the server out of reach
            raise unreachable
        return known

    async def members(self) -> list[QueueMemberChanged]:
        """Every member of every queue (``QueueStatus``), as the events the daemon routes."""
        found: list[QueueMemberChanged] = []
        listed = False
        unreachable: CtiError | None = None
        for name, commands in self._servers.items():
            now = time.time()
            try:
                frames = await commands.queue_status()
            except CtiError as exc:  # one server down: the members of the others still count
                log.warning("%s: QueueStatus failed: %s", name, exc)
                unreachable = unreachable or exc
                continue
            listed = True
            for frame in frames:
                member = queue_member(name, frame, now)
                if member is not None:
                    found.append(member)
        if not listed and unreachable is not None:
            raise unreachable
        return found


def queue_member(server: str, frame: AmiFrame, at: float) -> QueueMemberChanged | None:
    """Read one ``QueueMember`` event of a ``QueueStatus`` listing; None for other events."""
    if frame.get("Event") != "QueueMember":
        return None
    status = frame.get("Status", "0")
    return QueueMemberChanged(
        server=server,
        at=at,
        queue=frame.get("Queue"),
        interface=frame.get("Location") or frame.get("StateInterface"),
        member_name=frame.get("Name"),
        paused=frame.get("Paused", "0") == "1",
        pause_reason=frame.get("PausedReason"),
        status=int(status) if status.isdigit() else 0,
        in_call=frame.get("InCall", "0") == "1",
    )
