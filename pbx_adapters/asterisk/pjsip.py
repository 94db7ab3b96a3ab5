"""PJSIP trunk discovery and configuration reload over AMI, as typed values.

These actions need AMI write class ``system`` (Asterisk 22 answers "Permission denied" to the
least-privilege CTI user), so they run on the optional admin credential
(``[provisioning] admin_username``, manager.conf's ``[cti-config]``), never on the event
session. ``PJSIPShowRegistrationsOutbound`` is ``system,reporting``: the CTI user may list it.

A trunk is an endpoint that does not authenticate inbound calls (no ``auth=``): carriers are
matched by address (``identify``) or registered to, while agent phones always authenticate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from cti.errors import AmiActionFailed, ValidationFailed
from pbx_adapters.asterisk.commands import ActionSender
from pbx_adapters.asterisk.frame import AmiFrame

__all__ = [
    "RELOAD_MODULES",
    "ContactInfo",
    "EndpointInfo",
    "PjsipAdmin",
    "RegistrationInfo",
    "TrunkDetail",
]

# What the generated include files need reloaded: endpoints, queue members, the dialplan.
RELOAD_MODULES = ("res_pjsip.so", "app_queue.so", "pbx_config.so")


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    name: str
    aors: tuple[str, ...]
    inbound_auth: bool
    outbound_auth: bool
    device_state: str
    active_channels: int

    @property
    def is_trunk(self) -> bool:
        return not self.inbound_auth


@dataclass(frozen=True, slots=True)
class ContactInfo:
    aor: str
    uri: str
    status: str  # Reachable, Unreachable, NonQualified, Unknown
    rtt_ms: float | None
    endpoint: str


@dataclass(frozen=True, slots=True)
class TrunkDetail:
    endpoint: str
    contacts: tuple[ContactInfo, ...]
    matches: tuple[str, ...]  # identify match= addresses
    qualify_frequency_s: int


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    name: str
    server_uri: str
    status: str  # Registered, Unregistered, Rejected, ...
    endpoint: str


def _rtt_ms(text: str) -> float | None:
    try:
        return int(text) / 1000.0 if text and text != "N/A" else None
    except ValueError:
        return None


def _items(result: AmiFrame | list[AmiFrame]) -> list[AmiFrame]:
    if not isinstance(result, list):
        return []
    return [f for f in result if f.is_event]


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def endpoints_from(frames: Sequence[AmiFrame]) -> list[EndpointInfo]:
    """Read the ``EndpointList`` events of a PJSIPShowEndpoints response."""
    found = []
    for frame in frames:
        if frame.name != "EndpointList" or not frame.get("ObjectName"):
            continue
        try:
            channels = int(frame.get("ActiveChannels") or 0)
        except ValueError:
            channels = 0
        found.append(
            EndpointInfo(
                name=frame.get("ObjectName"),
                aors=_split(frame.get("Aor")),
                inbound_auth=bool(frame.get("Auths").strip()),
                outbound_auth=bool(frame.get("OutboundAuths").strip()),
                device_state=frame.get("DeviceState"),
                active_channels=channels,
            )
        )
    return found


def trunk_detail_from(endpoint: str, frames: Sequence[AmiFrame]) -> TrunkDetail:
    """Read one PJSIPShowEndpoint response: contacts with status and RTT, identify matches."""
    contacts: list[ContactInfo] = []
    matches: list[str] = []
    qualify = 0
    for frame in frames:
        if frame.name == "ContactStatusDetail":
            contacts.append(
                ContactInfo(
                    aor=frame.get("AOR"),
                    uri=frame.get("URI"),
                    status=frame.get("Status"),
                    rtt_ms=_rtt_ms(frame.get("RoundtripUsec")),
                    endpoint=frame.get("EndpointName") or endpoint,
                )
            )
        elif frame.name == "IdentifyDetail":
            matches.extend(_split(frame.get("Match")))
        elif frame.name == "AorDetail":
            with contextlib.suppress(ValueError):
                qualify = max(qualify, int(frame.get("QualifyFrequency") or 0))
    return TrunkDetail(endpoint, tuple(contacts), tuple(matches), qualify)


def registrations_from(frames: Sequence[AmiFrame]) -> list[RegistrationInfo]:
    return [
        RegistrationInfo(
            name=f.get("ObjectName"),
            server_uri=f.get("ServerUri"),
            status=f.get("Status"),
            endpoint=f.get("Endpoint"),
        )
        for f in frames
        if f.name == "OutboundRegistrationDetail"
    ]


class PjsipAdmin:
    """Trunk listing and reloads on a session whose user has write ``system``."""

    def __init__(self, connection: ActionSender) -> None:
        self._connection = connection

    async def endpoints(self) -> list[EndpointInfo]:
        result = await self._connection.send_action([("Action", "PJSIPShowEndpoints")])
        return endpoints_from(_items(result))

    async def trunk_detail(self, endpoint: str) -> TrunkDetail:
        if not endpoint or any(c in endpoint for c in "\r\n\x00"):
            raise ValidationFailed("not an endpoint name", details={"endpoint": endpoint[:80]})
        result = await self._connection.send_action(
            [("Action", "PJSIPShowEndpoint"), ("Endpoint", endpoint)]
        )
        return trunk_detail_from(endpoint, _items(result))

    async def registrations(self) -> list[RegistrationInfo]:
        try:
            result = await self._connection.send_action(
                [("Action", "PJSIPShowRegistrationsOutbound")]
            )
        except AmiActionFailed:
            return []  # Asterisk answers an error when there are none
        return registrations_from(_items(result))

    async def reload(self, modules: Sequence[str] = RELOAD_MODULES) -> list[str]:
        """Reload each module (AMI ``Reload``); return the answers' messages."""
        answers = []
        for module in modules:
            result = await self._connection.send_action([("Action", "Reload"), ("Module", module)])
            frame = result[0] if isinstance(result, list) else result
            answers.append(f"{module}: {frame.get('Message') or frame.name}")
        return answers
