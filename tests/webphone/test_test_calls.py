"""Test calls (cti.webphone.test_calls): who may place which, what reaches the PBX, and that a
refused request reaches nothing. The PBX is a fake that records each Originate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from cti import config
from cti.errors import CtiError, NotFound, PermissionDenied, RateLimited, ValidationFailed
from cti.principal import Principal, Role
from cti.store.values import AgentEndpoint, GroupSpec
from cti.webphone import test_calls as tc

ALICE = Principal("alice", "Alice", Role.AGENT)
SAM = Principal("sam", "Sam", Role.SUPERVISOR)
OTTO = Principal("otto", "Otto", Role.SUPERVISOR)
ROOT = Principal("root", "Root", Role.ADMIN)
SALES = GroupSpec(name="Sales", members=("alice",), supervisors=("sam",), dids=("442079460100",))
EMPTY = GroupSpec(name="Empty", supervisors=("sam",))


@dataclass
class Pbx:
    sent: list[dict[str, object]] = field(default_factory=list)

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
    ) -> object:
        self.sent.append(
            {"channel": endpoint_channel, "context": context, "exten": exten, "cid": caller_id}
        )
        return {}


async def _endpoints(username: str) -> tuple[AgentEndpoint, ...]:
    phones = {"alice": (AgentEndpoint("PJSIP/1001", "lab"),), "sip": (AgentEndpoint("SIP/x"),)}
    return phones.get(username, ())


async def _group(name: str) -> GroupSpec | None:
    return {"Sales": SALES, "Empty": EMPTY}.get(name)


def calls(pbx: Pbx, **settings: object) -> tc.TestCalls:
    return tc.TestCalls(
        config.TestCallSettings.model_validate(settings),
        {"lab": pbx},
        _endpoints,
        _group,
        default_region="GB",
    )


async def test_ring_me_rings_the_agents_own_extension_from_the_test_caller() -> None:
    pbx = Pbx()
    started = await calls(pbx, caller_number="+442079460001", caller_name="Alice Archer").ring_me(
        ALICE
    )
    assert pbx.sent == [
        {
            "channel": "Local/1001@cti-test-call",
            "context": "cti-test-caller",
            "exten": "s",
            "cid": '"Alice Archer" <+442079460001>',
        }
    ]
    assert started.target == "1001" and started.caller == "+442079460001"


async def test_ring_me_refuses_without_a_phone_admins_and_past_the_rate_limit() -> None:
    pbx = Pbx()
    service = calls(pbx, max_per_window=2)
    with pytest.raises(tc.TestCallRefused) as no_phone:
        await service.ring_me(Principal("sip", "S", Role.AGENT))
    assert no_phone.value.details["reason"] == "no_phone"
    with pytest.raises(PermissionDenied):
        await service.ring_me(ROOT)
    await service.ring_me(ALICE)
    await service.ring_me(ALICE)
    with pytest.raises(RateLimited):
        await service.ring_me(ALICE)
    assert len(pbx.sent) == 2


async def test_test_calls_turned_off_reach_nothing() -> None:
    pbx = Pbx()
    with pytest.raises(tc.TestCallRefused) as off:
        await calls(pbx, enabled=False).ring_me(ALICE)
    assert off.value.status == 409 and off.value.details["reason"] == "disabled"
    assert pbx.sent == []


async def test_simulate_rings_the_groups_did_from_a_contact_or_an_unknown_number() -> None:
    pbx = Pbx()
    service = calls(pbx, max_per_window=10)
    one = await service.simulate(SAM, "Sales", None, {"number": "020 7946 0001", "name": "Ann"})
    two = await service.simulate(ROOT, "Sales", "442079460100", {"unknown": True})
    assert [s["channel"] for s in pbx.sent] == ["Local/442079460100@cti-test-call"] * 2
    assert pbx.sent[0]["cid"] == '"Ann" <+442079460001>'
    assert one.caller == "+442079460001"
    assert two.caller.startswith("+447700900") and pbx.sent[1]["cid"] == f"<{two.caller}>"


@pytest.mark.parametrize(
    ("who", "group", "did", "caller", "error"),
    [
        (ALICE, "Sales", None, {"unknown": True}, PermissionDenied),  # agents may not
        (OTTO, "Sales", None, {"unknown": True}, PermissionDenied),  # not his group
        (SAM, "Nope", None, {"unknown": True}, NotFound),
        (SAM, "", None, {"unknown": True}, ValidationFailed),
        (SAM, "Sales", "442079460200", {"unknown": True}, ValidationFailed),  # not Sales' DID
        (SAM, "Sales", None, {"number": "not a number"}, ValidationFailed),
        (SAM, "Sales", None, {"number": "+442079460001", "name": "x" * 41}, ValidationFailed),
        (SAM, "Sales", None, "unknown", ValidationFailed),
        (SAM, "Empty", None, {"unknown": True}, tc.TestCallRefused),  # no DID
    ],
)
async def test_simulate_refuses_and_reaches_nothing(
    who: Principal, group: object, did: object, caller: object, error: type[CtiError]
) -> None:
    pbx = Pbx()
    with pytest.raises(error):
        await calls(pbx).simulate(who, group, did, caller)
    assert pbx.sent == []


async def test_a_callers_name_cannot_break_the_caller_id() -> None:
    pbx = Pbx()
    await calls(pbx).simulate(SAM, "Sales", None, {"number": "+442079460001", "name": 'A"<b>,\\'})
    assert pbx.sent[0]["cid"] == '"Ab" <+442079460001>'
