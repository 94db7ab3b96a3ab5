"""The dialer when AMI drops with an Originate in flight: the agent is told the call may still
ring, and the Originate's outcome, arriving on the next link, still reaches them."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from agent_ui.dial import Dialer
from agent_ui.protocol import Outgoing
from cti.config import DialSettings
from cti.core.events import OriginateResponded
from cti.dial_rules import DialRules
from cti.errors import AmiConnectionLost, AmiError
from cti.principal import Principal, Role
from cti.store.values import AgentEndpoint

ALICE = Principal("alice", "Alice", Role.AGENT)


class Pbx:
    """An Originator whose link drops with the action in flight (``fail`` set) or not."""

    def __init__(self, fail: AmiError | None) -> None:
        self.fail = fail
        self.sent: list[str] = []

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
        assert action_id is not None
        self.sent.append(action_id)
        if self.fail is not None:
            raise self.fail
        return {}


async def _endpoints(username: str) -> tuple[AgentEndpoint, ...]:
    return (AgentEndpoint("PJSIP/1001", "lab"),)


def _dialer(pbx: Pbx, told: list[tuple[str, Outgoing]]) -> Dialer:
    settings = DialSettings()
    return Dialer(
        settings,
        DialRules(settings, "GB"),
        {"lab": pbx},
        _endpoints,
        lambda agent, message: told.append((agent, message)),
    )


def _response(action_id: str, success: bool) -> OriginateResponded:
    return OriginateResponded(
        server="lab", at=0.0, action_id=action_id, success=success,
        channel_name="PJSIP/1001-00000001", uniqueid="1.1", reason=4 if success else 3,
    )  # fmt: skip


async def test_an_originate_lost_with_the_link_may_still_ring_and_its_outcome_arrives() -> None:
    pbx, told = Pbx(AmiConnectionLost("AMI connection to lab lost")), list[tuple[str, Outgoing]]()
    dialer = _dialer(pbx, told)
    with pytest.raises(AmiConnectionLost) as caught:
        await dialer.dial(ALICE, "020 7946 0555")
    assert "may still ring" in caught.value.message
    [action_id] = pbx.sent
    dialer.on_originate_response(_response(action_id, success=True))  # on the next link
    [(agent, message)] = told
    assert agent == "alice" and message.data["status"] == "answered"
    assert message.data["originate_id"] == caught.value.details["originate_id"]


async def test_an_originate_asterisk_refused_is_forgotten() -> None:
    pbx, told = Pbx(AmiError("Originate failed")), list[tuple[str, Outgoing]]()
    dialer = _dialer(pbx, told)
    with pytest.raises(AmiError):
        await dialer.dial(ALICE, "020 7946 0555")
    dialer.on_originate_response(_response(pbx.sent[0], success=False))
    assert told == []


class RecordingPbx(Pbx):
    """A Pbx that keeps the Originates' exten and variables."""

    def __init__(self) -> None:
        super().__init__(None)
        self.originates: list[tuple[str, dict[str, str]]] = []

    async def originate(  # type: ignore[override]
        self, endpoint_channel: str, context: str, exten: str, **kwargs: object
    ) -> object:
        variables = kwargs.get("variables") or {}
        assert isinstance(variables, Mapping)
        self.originates.append((exten, dict(variables)))
        return await super().originate(endpoint_channel, context, exten, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "typed", ["020 7946 0555 x12", "+44 20 7946 0555;ext=12", "020 7946 0555 ext. 12"]
)
async def test_a_number_with_an_extension_dials_the_main_number_and_sends_the_extension(
    typed: str,
) -> None:
    pbx, told = RecordingPbx(), list[tuple[str, Outgoing]]()
    await _dialer(pbx, told).dial(ALICE, typed)
    [(exten, variables)] = pbx.originates
    assert exten == "+442079460555"
    assert variables["CTI_DIAL_DTMF"] == "12"  # cti-outbound: Dial(...,D(ww${CTI_DIAL_DTMF}))


async def test_a_number_without_an_extension_sends_no_dtmf() -> None:
    pbx, told = RecordingPbx(), list[tuple[str, Outgoing]]()
    await _dialer(pbx, told).dial(ALICE, "020 7946 0555")
    [(_, variables)] = pbx.originates
    assert "CTI_DIAL_DTMF" not in variables
