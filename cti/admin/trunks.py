"""Trunk health from PJSIP contact status: which trunks exist, reachable or not, and what changed.

Pure: fed the trunk listing (admin AMI discovery) and ContactStatus events (the CTI session reads
them with class ``system``), it returns :class:`TrunkChange` values the console writes to the
event history and /metrics. An endpoint no discovery listed counts as a trunk when it is not an
agent's phone and its contact is qualified (Reachable/Unreachable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cti.core.events import ContactStatusChanged
from pbx_adapters.asterisk.pjsip import RegistrationInfo, TrunkDetail

__all__ = ["ContactState", "TrunkBook", "TrunkChange", "TrunkState"]

_QUALIFIED = ("Reachable", "Unreachable")


@dataclass(slots=True)
class ContactState:
    uri: str
    status: str
    rtt_ms: float | None
    since: float


@dataclass(slots=True)
class TrunkState:
    server: str
    name: str
    contacts: dict[str, ContactState] = field(default_factory=dict)
    registration: str | None = None
    matches: tuple[str, ...] = ()
    qualify_s: int = 0
    discovered: bool = False

    @property
    def reachable(self) -> bool | None:
        """True if a contact answers, False if every qualified one failed, None if unknown."""
        statuses = [c.status for c in self.contacts.values()]
        if "Reachable" in statuses:
            return True
        if "Unreachable" in statuses:
            return False
        return None

    @property
    def rtt_ms(self) -> float | None:
        values = [c.rtt_ms for c in self.contacts.values() if c.rtt_ms is not None]
        return min(values) if values else None


@dataclass(frozen=True, slots=True)
class TrunkChange:
    """``trunk.unreachable``, ``trunk.back``, ``trunk.registration_lost``, ``trunk.registered``."""

    server: str
    trunk: str
    kind: str
    at: float
    details: dict[str, object]


class TrunkBook:
    """Every known trunk of every server, keyed by (server, endpoint name)."""

    def __init__(self, is_agent_endpoint: Callable[[str], bool] = lambda ep: False) -> None:
        self._trunks: dict[tuple[str, str], TrunkState] = {}
        self._is_agent = is_agent_endpoint

    def states(self) -> list[TrunkState]:
        return sorted(self._trunks.values(), key=lambda t: (t.server, t.name))

    def get(self, server: str, name: str) -> TrunkState | None:
        return self._trunks.get((server, name))

    def forget_server(self, server: str) -> None:
        for key in [k for k in self._trunks if k[0] == server]:
            del self._trunks[key]

    def discovered(self, server: str, detail: TrunkDetail, at: float) -> list[TrunkChange]:
        """Take one trunk's listing (PJSIPShowEndpoint); return what changed since the last."""
        trunk = self._trunks.setdefault(
            (server, detail.endpoint), TrunkState(server, detail.endpoint)
        )
        trunk.discovered, trunk.matches, trunk.qualify_s = (
            True,
            detail.matches,
            detail.qualify_frequency_s,
        )
        before = trunk.reachable
        seen = set()
        for contact in detail.contacts:
            seen.add(contact.uri)
            old = trunk.contacts.get(contact.uri)
            since = old.since if old is not None and old.status == contact.status else at
            trunk.contacts[contact.uri] = ContactState(
                contact.uri, contact.status, contact.rtt_ms, since
            )
        for uri in [u for u in trunk.contacts if u not in seen]:
            del trunk.contacts[uri]
        return self._transition(trunk, before, at)

    def contact_status(self, event: ContactStatusChanged) -> list[TrunkChange]:
        """Take a ContactStatus event; ignore agents' phones and unqualified contacts."""
        name = event.endpoint or event.aor
        key = (event.server, name)
        trunk = self._trunks.get(key)
        if trunk is None:
            if event.status not in _QUALIFIED or self._is_agent(f"PJSIP/{name}"):
                return []
            trunk = self._trunks.setdefault(key, TrunkState(event.server, name))
        before = trunk.reachable
        if event.status == "Removed":
            trunk.contacts.pop(event.uri, None)
        elif event.status in _QUALIFIED or event.uri not in trunk.contacts:
            old = trunk.contacts.get(event.uri)
            rtt = event.rtt_ms if event.status == "Reachable" else None
            since = old.since if old is not None and old.status == event.status else event.at
            trunk.contacts[event.uri] = ContactState(event.uri, event.status, rtt, since)
        return self._transition(trunk, before, event.at)

    def registration(self, server: str, info: RegistrationInfo, at: float) -> list[TrunkChange]:
        """Take an outbound registration's status (PJSIPShowRegistrationsOutbound)."""
        name = info.endpoint or info.name
        trunk = self._trunks.setdefault((server, name), TrunkState(server, name))
        before, trunk.registration = trunk.registration, info.status
        if before == info.status:
            return []
        details: dict[str, object] = {"registration": info.status, "server_uri": info.server_uri}
        if info.status == "Registered":
            kind = "trunk.registered"
        elif before == "Registered":
            kind = "trunk.registration_lost"
        else:
            return []
        return [TrunkChange(server, name, kind, at, details)]

    @staticmethod
    def _transition(trunk: TrunkState, before: bool | None, at: float) -> list[TrunkChange]:
        after = trunk.reachable
        if after is None or after == before:
            return []
        if after is False:
            kind = "trunk.unreachable"
        elif before is False:
            kind = "trunk.back"
        else:
            return []  # first seen reachable: nothing to tell
        details: dict[str, object] = {
            "contacts": {u: c.status for u, c in trunk.contacts.items()},
            "rtt_ms": trunk.rtt_ms,
        }
        return [TrunkChange(trunk.server, trunk.name, kind, at, details)]
