"""Recording a live connection to JSON lines, and replaying it into a sink."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cti.errors import AmiProtocolError
from pbx_adapters.asterisk.connection import AmiConnection
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.recorder import AmiRecorder
from pbx_adapters.replay import RecordedFrame, ReplaySource, parse_lines, read_recording
from tests.fakes.ami_server import FakeAmiServer, RecordingSink, encode, event

from .conftest import SettingsFactory


async def test_live_recording_replays_the_same_frames(
    ami_server: FakeAmiServer, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    live = RecordingSink()
    with AmiRecorder.open(path) as recorder:
        async with AmiConnection("pbx1", make_settings(), live, tap=recorder.tap("pbx1")) as conn:
            await conn.wait_ready(5)
            pushed = [
                event("Newchannel", ("ChanVariable", "A=1"), ("ChanVariable", "B=2"), Channel="x"),
                event("Newstate", CallerIDName="Zoë Çelik"),
                event("Hangup", Cause="16"),
            ]
            await conn.send_action({"Action": "Ping"})
            await ami_server.push(b"".join(encode(frame) for frame in pushed))
            await live.wait_for("Hangup")

    recorded = list(read_recording(path))
    assert all(item.server == "pbx1" for item in recorded)
    assert recorded[0].t == 0.0
    assert [item.t for item in recorded] == sorted(item.t for item in recorded)
    names = [item.frame.name for item in recorded]
    assert names[0] == "Success"  # the tap sees responses too (here: to Login)
    assert "Goodbye" in names  # ... and to Logoff
    events = [item.frame for item in recorded if item.frame.is_event]
    assert events == live.frames
    assert events[1].get_all("ChanVariable") == ["A=1", "B=2"]
    assert '"Zoë Çelik"' in path.read_text(encoding="utf-8")  # readable, not \\u-escaped

    replayed = RecordingSink()
    count = await ReplaySource.from_file(path).play(replayed)
    assert count == len(recorded)
    assert replayed.frames == [item.frame for item in recorded]
    assert replayed.times == [item.t for item in recorded]


def test_recorder_line_format() -> None:
    stream = io.StringIO()
    recorder = AmiRecorder(stream, started_at=100.0)
    recorder.record("pbx2", AmiFrame.of(Event="Hangup", Channel="PJSIP/1-1"), 101.5)
    assert json.loads(stream.getvalue()) == {
        "t": 1.5,
        "server": "pbx2",
        "frame": [["Event", "Hangup"], ["Channel", "PJSIP/1-1"]],
    }
    assert recorder.frames_written == 1


def test_recorder_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("")
    with pytest.raises(FileExistsError):
        AmiRecorder.open(path)


def _recording() -> list[RecordedFrame]:
    lines = [
        '{"t": 0.0, "server": "a", "frame": [["Event", "One"]]}',
        "",
        '{"t": 0.5, "server": "b", "frame": [["Event", "Other"]]}',
        '{"t": 1.5, "server": "a", "frame": [["Event", "Two"]]}',
        '{"t": 1.5, "server": "a", "frame": [["Event", "Three"]]}',
    ]
    return list(parse_lines(lines))


async def test_replay_at_recorded_pace_scaled_by_speed() -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    sink = RecordingSink()
    source = ReplaySource(_recording(), speed=2.0, clock_offset=10.0, sleep=fake_sleep)
    assert await source.play(sink, server="a") == 3
    assert [frame.name for frame in sink.frames] == ["One", "Two", "Three"]
    assert sink.times == [10.0, 11.5, 11.5]
    assert slept == [0.75]  # (1.5 - 0.0) / 2; equal times are not slept


def test_replay_as_fast_as_possible_sync() -> None:
    sink = RecordingSink()
    assert ReplaySource(_recording()).play_sync(sink) == 4
    assert [frame.name for frame in sink.frames] == ["One", "Other", "Two", "Three"]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"t": 0, "server": "a"}',
        '{"t": "x", "server": "a", "frame": []}',
        '{"t": 0, "server": "a", "frame": [["Event"]]}',
        '{"t": 0, "server": "a", "frame": [["Event", 5]]}',
    ],
)
def test_replay_refuses_bad_lines(line: str) -> None:
    with pytest.raises(AmiProtocolError, match="<recording>:1"):
        list(parse_lines([line]))


def test_replay_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ReplaySource([], speed=0)
