"""The normalized events keep a frozen dataclass's behaviour under their fast constructor."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from cti.core.events import (
    Channel,
    ChannelCreated,
    ChannelsListed,
    ChannelState,
    DialBegan,
    ListedChannel,
    Party,
    PbxBooted,
    PbxEvent,
)

CALLER = Party("+442079460001", "Ada Lovelace")
TRUNK = Channel(
    "PJSIP/lab-trunk-00000001",
    "1700000000.1",
    "1700000000.1",
    ChannelState.RING,
    CALLER,
    Party(),
    context="from-trunk",
    did="442079460100",
)
AGENT = Channel(
    "PJSIP/1001-00000002", "1700000000.2", "1700000000.1", ChannelState.DOWN, Party(), Party()
)


def test_fields_and_defaults_are_stored() -> None:
    assert (TRUNK.name, TRUNK.uniqueid, TRUNK.state, TRUNK.caller.name) == (
        "PJSIP/lab-trunk-00000001",
        "1700000000.1",
        ChannelState.RING,
        "Ada Lovelace",
    )
    assert (TRUNK.context, TRUNK.exten, TRUNK.did, TRUNK.trunk) == (
        "from-trunk",
        "",
        "442079460100",
        None,
    )
    assert Party(name="x") == Party("", "x")
    assert TRUNK.endpoint == "PJSIP/lab-trunk"


def test_instances_are_of_the_class_and_compare_by_value() -> None:
    event = DialBegan(server="pbx1", at=1.5, caller=TRUNK, callee=AGENT, dial_string="1001")
    assert type(event) is DialBegan
    assert isinstance(event, PbxEvent)
    assert event == DialBegan(server="pbx1", at=1.5, caller=TRUNK, callee=AGENT, dial_string="1001")
    assert event != DialBegan(server="pbx1", at=1.5, caller=None, callee=AGENT, dial_string="1001")
    assert hash(AGENT) == hash(dataclasses.replace(AGENT))
    assert repr(Party("1", "a")) == "Party(number='1', name='a')"


def test_fields_cannot_be_assigned() -> None:
    event = ChannelCreated(server="pbx1", at=1.0, channel=TRUNK)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.at = 2.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRUNK.state = ChannelState.UP  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del CALLER.number
    assert event.at == 1.0


def test_constructor_signature_is_the_dataclasss() -> None:
    with pytest.raises(TypeError, match="channel"):
        ChannelCreated(server="pbx1", at=1.0)  # type: ignore[call-arg]
    assert ChannelCreated("pbx1", 1.0, TRUNK) == ChannelCreated(
        server="pbx1", at=1.0, channel=TRUNK
    )
    with pytest.raises(TypeError, match="positional"):
        ListedChannel(AGENT, "b", "Dial", 1.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Channel("PJSIP/1001-00000002")  # type: ignore[call-arg]
    assert list(inspect.signature(ChannelCreated).parameters) == ["server", "at", "channel"]


def test_replace_copy_and_pickle_round_trip() -> None:
    listed = ChannelsListed(
        server="pbx1",
        at=2.0,
        channels=(
            ListedChannel(channel=AGENT, bridge_id="b", application="Dial", duration_seconds=3.0),
        ),
    )
    assert dataclasses.replace(listed, at=3.0).at == 3.0
    for value in (listed, TRUNK, CALLER, PbxBooted(server="pbx1", at=1.0)):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value
        assert copy.copy(value) == value


def test_pattern_matching_reads_the_fields() -> None:
    match ChannelCreated(server="pbx1", at=1.0, channel=TRUNK):
        case ChannelCreated(channel=Channel(caller=Party(number=number))):
            assert number == "+442079460001"
        case _:
            pytest.fail("the class pattern did not match")
