"""Test calls: "Ring me a test call" for agents, "Simulate a call" for supervisors.

Either is one AMI Originate of ``Local/<target>@cti-test-call``: that half enters the dialplan as
a carrier call would (to a DID, or straight to the agent's extension), so the call rings, pops
and is recorded exactly like a real one; the other half, the "caller", runs ``cti-test-caller``
(an echo with a time limit). Nothing reaches a trunk.

Every check happens before the PBX is asked anything: the role's grant, the group being the
supervisor's own (admins: every group), the DID being that group's, the caller's number, then
the user's rate limit. A refused request stores and sends nothing.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cti.config import TestCallSettings
from cti.dial_rules import DialLimiter
from cti.errors import CtiError, NotFound, PermissionDenied, ValidationFailed
from cti.numbers import RegionSource, region_source, to_e164
from cti.principal import Action, Principal, Role, require
from cti.store.values import AgentEndpoint, GroupSpec

__all__ = ["TestCallOriginator", "TestCallRefused", "TestCallStarted", "TestCalls"]

log = logging.getLogger(__name__)

_EXTENSION = re.compile(r"PJSIP/([0-9]{2,8})")
_DID = re.compile(r"[0-9]{4,15}")
_NAME_MAX = 40
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\<>,]')  # Originate's CallerID and Variable rules


class TestCallRefused(CtiError):
    """A test call that cannot be placed (no phone, no DID, test calls off); says why."""

    error_id = "test_call.refused"
    status = 409
    __test__ = False  # not a pytest class


class TestCallOriginator(Protocol):
    """The PBX command a test call needs (the Asterisk adapter's ``AsteriskCommands``)."""

    async def originate(
        self,
        endpoint_channel: str,
        context: str,
        exten: str,
        *,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        action_id: str | None = None,
        priority: int = 1,
    ) -> object: ...


EndpointsOf = Callable[[str], Awaitable[Sequence[AgentEndpoint]]]
GroupOf = Callable[[str], Awaitable[GroupSpec | None]]


@dataclass(frozen=True, slots=True)
class TestCallStarted:
    """The PBX took the test call: it rings ``target`` from ``caller`` now."""

    __test__ = False  # not a pytest class

    test_call_id: str
    target: str  # an extension (1001) or a DID (442079460100)
    caller: str  # E.164
    caller_name: str

    def as_dict(self) -> dict[str, object]:
        return {
            "test_call_id": self.test_call_id,
            "target": self.target,
            "caller": self.caller,
            "caller_name": self.caller_name,
        }


class TestCalls:
    """Place test calls into the PBX on behalf of agents and supervisors."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        settings: TestCallSettings,
        servers: Mapping[str, TestCallOriginator],
        endpoints_of: EndpointsOf,
        group_of: GroupOf,
        *,
        default_region: str | RegionSource,
        limiter: DialLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._servers = servers  # read at each use: it follows servers added at runtime
        self._endpoints_of = endpoints_of
        self._group_of = group_of
        self._regions = region_source(default_region)  # read at each use: admins may change it
        self._limiter = limiter or DialLimiter(settings.max_per_window, settings.window_s)

    async def ring_me(self, principal: Principal) -> TestCallStarted:
        """Ring the principal's own phone(s) from the configured test caller."""
        require(principal, Action.DIAL)
        self._check_enabled()
        endpoints = await self._endpoints_of(principal.username)
        found = [(e, m) for e in endpoints if (m := _EXTENSION.fullmatch(e.endpoint))]
        if not found:
            raise TestCallRefused(
                "you have no phone extension to ring; ask your PBX admin for one",
                details={"reason": "no_phone"},
            )
        endpoint, match = found[0]
        self._limiter.take(principal.username)
        return await self._place(
            principal,
            self._server(endpoint.server),
            match.group(1),
            self._settings.caller_number,
            self._settings.caller_name,
        )

    async def simulate(
        self, principal: Principal, group: object, did: object, caller: object
    ) -> TestCallStarted:
        """Ring ``group`` on ``did`` (one of its DIDs; its first when None) from ``caller``:
        ``{"number": "+44...", "name": "..."}`` (a CRM contact) or ``{"unknown": true}``."""
        require(principal, Action.SUPERVISE_GROUPS)
        self._check_enabled()
        spec = await self._own_group(principal, group)
        target = _did_of(spec, did)
        number, name = self._caller(caller)
        self._limiter.take(principal.username)
        return await self._place(principal, self._server(None), target, number, name)

    # ---------------------------------------------------------------------------- checks
    def _check_enabled(self) -> None:
        if not self._settings.enabled or not self._servers:
            raise TestCallRefused(
                "test calls are turned off on this site ([test_calls] enabled)",
                details={"reason": "disabled"},
            )

    async def _own_group(self, principal: Principal, group: object) -> GroupSpec:
        if not isinstance(group, str) or not group.strip():
            raise ValidationFailed("choose a group", details={"field": "group"})
        spec = await self._group_of(group)
        if spec is None:
            raise NotFound("no such group", details={"group": group})
        if principal.role is not Role.ADMIN and principal.username not in spec.supervisors:
            raise PermissionDenied(
                "you may simulate calls only into groups you supervise",
                details={"group": group},
            )
        return spec

    def _caller(self, caller: object) -> tuple[str, str]:
        if not isinstance(caller, dict):
            raise ValidationFailed(
                'caller is {"number": ..., "name": ...} or {"unknown": true}',
                details={"field": "caller"},
            )
        if caller.get("unknown") is True:
            return f"+447700900{secrets.randbelow(1000):03d}", ""  # Ofcom's drama range
        raw, name = caller.get("number"), caller.get("name", "")
        number = (
            to_e164(raw, self._regions.default_region())
            if isinstance(raw, str) and len(raw) <= 40
            else None
        )
        if number is None:
            raise ValidationFailed(
                "the caller's number is not a phone number", details={"field": "caller.number"}
            )
        if not isinstance(name, str) or len(name) > _NAME_MAX:
            raise ValidationFailed(
                f"the caller's name is at most {_NAME_MAX} characters",
                details={"field": "caller.name"},
            )
        return number, _UNSAFE_NAME.sub("", name).strip()

    def _server(self, name: str | None) -> TestCallOriginator:
        if name is None:
            first = next(iter(self._servers.values()), None)
            if first is None:
                raise TestCallRefused(
                    "this daemon reaches no PBX server now", details={"reason": "no_server"}
                )
            return first
        server = self._servers.get(name)
        if server is None:
            raise TestCallRefused(
                f"your phone is on server {name!r}, which this daemon does not reach",
                details={"reason": "no_server", "server": name},
            )
        return server

    # ---------------------------------------------------------------------------- placing
    async def _place(
        self,
        principal: Principal,
        server: TestCallOriginator,
        target: str,
        number: str,
        name: str,
    ) -> TestCallStarted:
        test_call_id = uuid.uuid4().hex[:20]
        await server.originate(
            f"Local/{target}@{self._settings.context}",
            self._settings.caller_context,
            "s",
            caller_id=f'"{name}" <{number}>' if name else f"<{number}>",
            timeout_s=self._settings.ring_timeout_s,
            action_id=f"cti-test-{test_call_id}",
        )
        log.info("%s: test call %s to %s from %s", principal.username, test_call_id, target, number)
        return TestCallStarted(test_call_id, target, number, name)


def _did_of(spec: GroupSpec, did: object) -> str:
    if did is None or did == "":
        if not spec.dids:
            raise TestCallRefused(
                f"group {spec.name} has no DID to call; give it one in the admin console",
                details={"reason": "no_did", "group": spec.name},
            )
        return spec.dids[0]
    if not isinstance(did, str) or not _DID.fullmatch(did) or did not in spec.dids:
        raise ValidationFailed(
            f"the DID is not one of group {spec.name}'s",
            details={"field": "did", "dids": list(spec.dids)},
        )
    return did
