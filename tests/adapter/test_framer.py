"""The sans-IO AMI framer: bytes in, frames out; no sockets, no mocks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.framer import MAX_FRAME_BYTES, AmiFramer, FramerStats

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
NEWCHANNEL = (
    b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/1001-00000001\r\n"
    b"CallerIDNum: 1001\r\nCallerIDName: Zo\xc3\xab \xc3\x87elik\r\nUniqueid: 1700000000.1\r\n\r\n"
)


def feed_all(
    data: bytes, *, cuts: list[int] | None = None, **limits: int
) -> tuple[AmiFramer, list[AmiFrame]]:
    """Feed ``data`` cut at ``cuts`` (one read per piece); return the framer and its frames."""
    framer = AmiFramer(**limits)
    frames: list[AmiFrame] = []
    bounds = [0, *sorted(c for c in cuts or [] if c <= len(data)), len(data)]
    for start, end in itertools.pairwise(bounds):
        frames.extend(framer.feed(data[start:end]))
    return framer, frames


def frames_of(data: bytes, cuts: list[int] | None = None) -> list[AmiFrame]:
    return feed_all(data, cuts=cuts)[1]


def test_banner_then_event() -> None:
    framer = AmiFramer()
    assert framer.feed(BANNER) == []
    [frame] = framer.feed(NEWCHANNEL)
    assert framer.version == "9.0.0"
    assert frame.name == "Newchannel"
    assert frame.is_event
    assert frame[:3] == (
        ("Event", "Newchannel"),
        ("Privilege", "call,all"),
        ("Channel", "PJSIP/1001-00000001"),
    )
    assert frame.get("CallerIDName") == "Zoë Çelik"
    assert framer.stats == FramerStats(frames=1)


def test_utf8_character_split_across_reads_survives() -> None:
    data = BANNER + NEWCHANNEL
    inside_e = data.index("ë".encode()) + 1  # between the two bytes of ë
    for cuts in ([inside_e], [inside_e - 1, inside_e, inside_e + 1], list(range(1, len(data)))):
        [frame] = frames_of(data, cuts=cuts)
        assert frame.get("CallerIDName") == "Zoë Çelik"


def test_invalid_utf8_becomes_replacement_character() -> None:
    [frame] = frames_of(BANNER + b"Event: X\r\nName: a\xffb\xc3\r\n\r\n")
    assert frame.get("Name") == "a\ufffdb\ufffd"


def test_bare_lf_and_mixed_line_ends() -> None:
    data = BANNER + b"Event: A\nX: 1\n\nEvent: B\r\nY: 2\n\r\nEvent: C\nZ: 3\r\n\n"
    frames = frames_of(data)
    assert [f.name for f in frames] == ["A", "B", "C"]
    assert [f[1] for f in frames] == [("X", "1"), ("Y", "2"), ("Z", "3")]


def test_header_split_rules() -> None:
    data = BANNER + (
        b"Event: X\r\nNoSpace:value\r\nMessage: a: b: c\r\nEmpty: \r\nBare:\r\n"
        b"Uri: sip:100@10.0.0.1:5060\r\n\r\n"
    )
    [frame] = frames_of(data)
    assert frame.as_dict() == {
        "Event": "X",
        "NoSpace": "value",
        "Message": "a: b: c",
        "Empty": "",
        "Bare": "",
        "Uri": "sip:100@10.0.0.1:5060",
    }


def test_repeated_keys_kept_in_order_and_case_preserved() -> None:
    data = BANNER + (
        b"Event: Hangup\r\nChanVariable: CTI_DID=123\r\nchanvariable: CTI_TRUNK=t1\r\n"
        b"ChanVariable: X=\r\n\r\n"
    )
    [frame] = frames_of(data)
    assert frame.get_all("ChanVariable") == ["CTI_DID=123", "CTI_TRUNK=t1", "X="]
    assert frame[2] == ("chanvariable", "CTI_TRUNK=t1")


def test_line_without_colon_is_dropped_and_counted() -> None:
    framer, frames = feed_all(BANNER + b"Event: X\r\ngarbage line\r\nA: 1\r\n\r\n")
    assert frames == [AmiFrame.of(Event="X", A="1")]
    assert framer.stats.lines_malformed == 1


def test_frames_without_event_or_response_are_dropped() -> None:
    framer, frames = feed_all(BANNER + b"Foo: bar\r\n\r\njunk\r\n\r\nResponse: Success\r\n\r\n")
    assert [f.name for f in frames] == ["Success"]
    assert framer.stats.frames_unnamed == 2
    assert framer.stats.frames_rejected == 2


def test_empty_lines_between_frames_and_truncated_tail() -> None:
    framer, frames = feed_all(BANNER + b"\r\n\r\n\nEvent: A\r\n\r\n\r\n\n\r\nEvent: B\r\nX: 1")
    assert [f.name for f in frames] == ["A"]
    assert framer.buffered == len(b"Event: B\r\nX: 1")
    assert [f.name for f in framer.feed(b"\r\n\r\n")] == ["B"]


def test_no_banner_reads_frames_anyway() -> None:
    framer, frames = feed_all(b"Event: A\r\n\r\n")
    assert [f.name for f in frames] == ["A"]
    assert framer.version is None


def test_lone_cr_and_nul_do_not_crash() -> None:
    data = BANNER + b"Event: A\rB\r\nX: \x00\r\r\n\r\r\n\r\n\x00\r\n\r\nEvent: C\r\n\r\n"
    frames = frames_of(data)
    assert frames[0][:2] == (("Event", "A\rB"), ("X", "\x00\r"))
    assert frames[-1].name == "C"


def test_legacy_follows_body_becomes_output_lines() -> None:
    data = BANNER + (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Name/username  Host  Status\nChannel: not a header here\n2 sip peers\n"
        b"--END COMMAND--\r\n\r\n"
    )
    [frame] = frames_of(data)
    assert frame.name == "Follows"
    assert frame.action_id == "7"
    assert frame.get_all("Output") == [
        "Name/username  Host  Status",
        "Channel: not a header here",
        "2 sip peers",
    ]


def test_one_mebibyte_line_is_skipped_with_bounded_memory() -> None:
    framer = AmiFramer()
    framer.feed(BANNER + b"Event: Big\r\nData: ")
    chunk = b"x" * 65536
    peak = 0
    for _ in range(16):  # 1 MiB with no line end
        assert framer.feed(chunk) == []
        peak = max(peak, framer.buffered)
    assert peak <= MAX_FRAME_BYTES + len(chunk) + 64
    frames = framer.feed(b"\r\nMore: 1\r\n\r\nEvent: After\r\n\r\n")
    assert [f.name for f in frames] == ["After"]
    assert framer.stats.frames_oversized == 1
    assert framer.buffered == 0


def test_long_line_dropped_but_frame_kept_when_frame_is_small_enough() -> None:
    line = b"Data: " + b"y" * 70_000 + b"\r\n"
    framer, frames = feed_all(
        BANNER + b"Event: A\r\n" + line + b"Z: 1\r\n\r\n", cuts=[100, 5000, 60_000]
    )
    assert frames == [AmiFrame.of(Event="A", Z="1")]
    assert framer.stats.lines_too_long == 1


def test_too_many_headers_rejects_the_frame() -> None:
    body = b"".join(b"H%d: v\r\n" % i for i in range(600))
    framer, frames = feed_all(BANNER + b"Event: Many\r\n" + body + b"\r\nEvent: Next\r\n\r\n")
    assert [f.name for f in frames] == ["Next"]
    assert framer.stats.frames_too_many_headers == 1


def test_many_malformed_frames_interleaved_with_valid_ones() -> None:
    bad = [
        b"no colon at all\r\n\r\n",
        b"Foo: no name\r\n\r\n",
        b"\r\r\r\x00\r\n\r\n",
        b"H: v\r\n" * 600 + b"\r\n",
    ]
    framer = AmiFramer()
    framer.feed(BANNER)
    out: list[AmiFrame] = []
    peak = 0
    pending = b""
    for i in range(100_000):
        pending += bad[i % len(bad)] + b"Event: Ok\r\nSeq: %d\r\n\r\n" % i
        if len(pending) > 60_000:
            out.extend(framer.feed(pending[:30_001]))
            pending = pending[30_001:]
            peak = max(peak, framer.buffered)
    out.extend(framer.feed(pending))
    assert [f.get("Seq") for f in out] == [str(i) for i in range(100_000)]
    assert framer.stats.frames_rejected == 100_000
    assert peak < 64 * 1024


# -- properties: never raises; the frames do not depend on the chunking ------------------------

_PIECES = st.sampled_from(
    [b"Event: E", b"Response: Success", b"Key: value", b"K:v", b"Output: x", b"nocolon",
     b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\n\n", b": ", b":", b"\x00", b"\xc3", b"\xab",
     "Zoë".encode(), b"\xff", b"Asterisk Call Manager/1.0", b"--END COMMAND--",
     b"Response: Follows\r\n", b"x" * 40]
)  # fmt: skip
_STREAMS = st.one_of(st.binary(max_size=400), st.lists(_PIECES, max_size=60).map(b"".join))


def _outcome(framer: AmiFramer, frames: list[AmiFrame]) -> tuple[object, ...]:
    return (frames, framer.stats, framer.version)


@settings(max_examples=400, deadline=None)
@given(data=_STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_bytes_any_chunking_same_frames(data: bytes, cuts: list[int]) -> None:
    limits = {"max_line_bytes": 24, "max_frame_bytes": 60, "max_headers": 4}
    expected = _outcome(*feed_all(data, **limits))
    assert _outcome(*feed_all(data, cuts=cuts, **limits)) == expected
    one_byte, frames = feed_all(data, cuts=list(range(1, len(data))), **limits)
    assert _outcome(one_byte, frames) == expected
    assert one_byte.buffered <= 2 * (60 + 4)  # bounded: at most about one frame is held


@settings(max_examples=200, deadline=None)
@given(data=_STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_default_limits_same_frames_across_chunkings(data: bytes, cuts: list[int]) -> None:
    whole, whole_frames = feed_all(BANNER + data)
    chunked, chunked_frames = feed_all(BANNER + data, cuts=cuts)
    assert whole_frames == chunked_frames
    assert whole.stats == chunked.stats


_LF_PIECES = st.sampled_from(
    [b"Event: E", b"Response: Success", b"Key: value", b"K:v", b"nocolon", b"\n", b"\n\n",
     b"\r ", b": ", b":", b"\xc3", "Zoë".encode(), b"\xff", b"x" * 40]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(data=st.lists(_LF_PIECES, max_size=60).map(b"".join))
def test_crlf_and_bare_lf_line_ends_give_the_same_frames(data: bytes) -> None:
    # The framer splits an all-CRLF stream on CRLF and anything else after folding CRLF to LF.
    crlf = data.replace(b"\n", b"\r\n")
    for limit in (1, 0):  # small limits, then the defaults
        small = {"max_line_bytes": 24, "max_frame_bytes": 60, "max_headers": 4} if limit else {}
        lf_framer, lf_frames = feed_all(BANNER + data, cuts=None, **small)
        crlf_framer, crlf_frames = feed_all(BANNER + crlf, cuts=None, **small)
        assert crlf_frames == lf_frames
        assert crlf_framer.stats == lf_framer.stats


def test_remembered_lines_do_not_change_frames() -> None:
    # More distinct lines than the framer remembers, then the frames again: same frames.
    noise = b"".join(b"Event: N\r\nSerial: %d\r\n\r\n" % n for n in range(6000))
    seasoned, _ = feed_all(BANNER + noise + NEWCHANNEL * 2)
    fresh_frames = frames_of(BANNER + NEWCHANNEL * 2)
    again = seasoned.feed(NEWCHANNEL + b"Event: N\r\nSerial: 5999\r\nOdd:line\r\n\r\n")
    assert again[0] == fresh_frames[0]
    assert again[1] == AmiFrame.of(("Event", "N"), ("Serial", "5999"), ("Odd", "line"))
    assert seasoned.stats.frames == 6000 + 2 + 2


@pytest.mark.parametrize("limit", ["max_line_bytes", "max_frame_bytes", "max_headers"])
def test_limits_must_be_positive(limit: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        AmiFramer(**{limit: 0})  # type: ignore[arg-type]
