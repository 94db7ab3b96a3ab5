"""AmiFrame helpers, action encoding and the sans-IO correlator: no sockets."""

from __future__ import annotations

import pickle

import pytest

from cti.errors import AmiActionFailed, ValidationFailed
from pbx_adapters.asterisk.action import encode_action
from pbx_adapters.asterisk.correlation import Correlator, Reply, Routed
from pbx_adapters.asterisk.frame import AmiFrame


def test_frame_lookup_is_case_insensitive_first_match() -> None:
    frame = AmiFrame.of(
        ("Event", "VarSet"), ("channel", "first"), ("Channel", "second"), ("Value", "")
    )
    assert frame.get("Channel") == "first"
    assert frame.get("CHANNEL") == "first"
    assert frame.get("Value", "x") == ""
    assert frame.get("Missing") == ""
    assert frame.get("Missing", "dflt") == "dflt"
    assert frame.get_all("channel") == ["first", "second"]
    assert frame.as_dict() == {
        "Event": "VarSet",
        "channel": "first",
        "Channel": "second",
        "Value": "",
    }


def test_frame_name_and_kind() -> None:
    assert AmiFrame.of(Event="Hangup").name == "Hangup"
    assert AmiFrame.of(Event="Hangup").is_event
    response = AmiFrame.of(Response="Success", ActionID="1")
    assert response.name == "Success"
    assert not response.is_event
    assert response.action_id == "1"
    late = AmiFrame.of(("Privilege", "call"), ("event", "Newstate"))
    assert late.name == "Newstate"
    assert late.is_event
    assert AmiFrame().name == ""
    assert not AmiFrame().is_event


def test_frame_is_immutable_hashable_and_picklable() -> None:
    frame = AmiFrame.of(Event="X", A="1")
    with pytest.raises(AttributeError):
        frame.extra = 1  # type: ignore[attr-defined]
    assert frame == (("Event", "X"), ("A", "1"))
    assert hash(frame) == hash((("Event", "X"), ("A", "1")))
    assert pickle.loads(pickle.dumps(frame)) == frame
    assert type(pickle.loads(pickle.dumps(frame))) is AmiFrame
    assert frame.as_lists() == [["Event", "X"], ["A", "1"]]
    assert repr(frame) == "AmiFrame((('Event', 'X'), ('A', '1')))"


@pytest.mark.parametrize("bad", [[("a",)], [("a", 1)], [("a", "b", "c")], ["ab"]])
def test_from_pairs_refuses_bad_shapes(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="pair"):
        AmiFrame.from_pairs(bad)  # type: ignore[arg-type]


def test_encode_action_keeps_order_and_repeats() -> None:
    wire = encode_action([("Action", "Originate"), ("Variable", "A=1"), ("Variable", "B=2")])
    assert wire == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"


@pytest.mark.parametrize(
    "headers",
    [
        [("Action", "Originate"), ("Channel", "100\r\nAction: Command")],
        [("Action", "Ping"), ("X", "a\nb")],
        [("Action", "Ping"), ("X", "nul\x00")],
        [("Action", "Ping\r\n")],
        [("Action", "Ping"), ("Bad Key", "v")],
        [("Action", "Ping"), ("Key:", "v")],
        [("Channel", "x")],
        [("Action", "Ping"), ("action", "Command")],
    ],
)
def test_encode_action_refuses_injection(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValidationFailed):
        encode_action(headers)


# -- correlation -----------------------------------------------------------------------------


def test_single_response_completes() -> None:
    correlator = Correlator("pbx1")
    correlator.open("1", "Ping")
    reply = correlator.route(AmiFrame.of(Response="Success", ActionID="1", Ping="Pong"))
    assert isinstance(reply, Reply)
    assert reply.result == AmiFrame.of(Response="Success", ActionID="1", Ping="Pong")
    assert reply.error is None
    assert len(correlator) == 0


def test_error_response_becomes_action_failed() -> None:
    correlator = Correlator("pbx1")
    correlator.open("9", "Hangup")
    reply = correlator.route(AmiFrame.of(Response="Error", ActionID="9", Message="No such channel"))
    assert isinstance(reply, Reply)
    assert isinstance(reply.error, AmiActionFailed)
    assert reply.error.message == "No such channel"
    assert reply.error.details["action"] == "Hangup"
    assert reply.error.details["server"] == "pbx1"
    assert reply.error.details["action_id"] == "9"


def test_event_list_collects_until_complete() -> None:
    correlator = Correlator()
    correlator.open("L", "CoreShowChannels")
    ack = AmiFrame.of(Response="Success", ActionID="L", EventList="start")
    item = AmiFrame.of(Event="CoreShowChannel", ActionID="L", Channel="PJSIP/1-1")
    done = AmiFrame.of(Event="CoreShowChannelsComplete", ActionID="L", EventList="Complete")
    assert correlator.route(ack) is Routed.CONSUMED
    assert correlator.route(item) is Routed.CONSUMED
    assert correlator.route(AmiFrame.of(Event="Newchannel")) is Routed.UNRELATED
    reply = correlator.route(done)
    assert isinstance(reply, Reply)
    assert reply.result == [ack, item, done]


def test_old_style_list_ends_on_complete_name() -> None:
    correlator = Correlator()
    correlator.open("S", "Status")
    ack = AmiFrame.of(Response="Success", ActionID="S", Message="Channel status will follow")
    assert correlator.route(ack) is Routed.CONSUMED
    reply = correlator.route(AmiFrame.of(Event="StatusComplete", ActionID="S"))
    assert isinstance(reply, Reply)
    assert len(reply.frames) == 2


def test_originate_response_event_is_left_to_the_event_stream() -> None:
    correlator = Correlator()
    correlator.open("O", "Originate")
    early = AmiFrame.of(Event="OriginateResponse", ActionID="O", Response="Failure")
    assert correlator.route(early) is Routed.UNRELATED
    ack = AmiFrame.of(Response="Success", ActionID="O", Message="Originate successfully queued")
    assert isinstance(correlator.route(ack), Reply)
    late = AmiFrame.of(Event="OriginateResponse", ActionID="O", Response="Success")
    assert correlator.route(late) is Routed.UNRELATED


def test_unknown_forgotten_and_duplicate_ids() -> None:
    correlator = Correlator()
    assert correlator.route(AmiFrame.of(Response="Success", ActionID="x")) is Routed.UNRELATED
    correlator.open("a", "Ping")
    with pytest.raises(KeyError):
        correlator.open("a", "Ping")
    correlator.forget("a")
    assert correlator.route(AmiFrame.of(Response="Success", ActionID="a")) is Routed.UNRELATED
    correlator.open("b", "Ping")
    correlator.open("c", "Ping")
    assert sorted(correlator.forget_all()) == ["b", "c"]
    assert "b" not in correlator
