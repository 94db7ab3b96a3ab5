"""Sans-IO AMI framer: bytes from the socket in, :class:`AmiFrame` out; no I/O, no clock.

Wire format (Asterisk ``main/manager.c``): the server first sends one banner line,
``Asterisk Call Manager/X.Y.Z``; then every message is ``Key: Value`` lines ended by ``CRLF``
and closed by an empty line. The framer also accepts bare ``LF`` line ends.

How the framer reads a stream (the result does not depend on how the stream is chunked):

* a line is the bytes up to ``LF``, minus one ``CR`` before it; an empty line ends a message;
* a header line splits on the first ``': '`` or, failing that, the first ``':'``; a line with no
  colon is dropped and counted (``lines_malformed``);
* each message is decoded as UTF-8 once complete, so a character split across two reads is
  kept whole; invalid bytes become U+FFFD;
* a line longer than ``max_line_bytes`` is dropped and counted (``lines_too_long``);
* a message longer than ``max_frame_bytes`` (line ends counted as one byte) or with more than
  ``max_headers`` lines is dropped and counted; an over-long message is skipped as it streams
  in, so the framer holds at most about ``max_frame_bytes`` plus one read;
* a message with neither ``Event`` nor ``Response`` is dropped and counted (``frames_unnamed``);
* a legacy ``Response: Follows`` body (Asterisk < 14 answering ``Command``) becomes ``Output``
  headers, like Asterisk 22 sends, and its ``--END COMMAND--`` marker is removed.

Splitting header lines is most of the framer's work, and AMI repeats itself: every event of a
channel carries the same snapshot lines (``Channel:``, ``Uniqueid:``, ``Context:`` ...), so each
framer remembers the ``(key, value)`` pair of the lines it split last (:class:`_LineCache`).
A repeated line costs one dictionary lookup, and frames share the key and value strings, whose
hashes are then computed once (the normalizer indexes frames by key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pbx_adapters.asterisk.frame import AmiFrame

__all__ = [
    "BANNER_PREFIX",
    "MAX_FRAME_BYTES",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "AmiFramer",
    "FramerStats",
]

BANNER_PREFIX = b"Asterisk Call Manager/"
MAX_LINE_BYTES = 64 * 1024
MAX_FRAME_BYTES = 256 * 1024
MAX_HEADERS = 512

_NAME_KEYS = ("Event", "Response")
_LEGACY_END = "--END COMMAND--"
# Headers Asterisk < 14 puts before a ``Response: Follows`` body; anything else is body.
_LEGACY_HEADERS = frozenset({"response", "privilege", "actionid", "commandid", "message"})
# Slack between a buffered partial message and the message it will become: a leading empty
# line, a partial ``LF [CR]`` separator and a ``CR`` whose ``LF`` has not arrived.
_TAIL_SLACK = 4
_SLICE_BYTES = 8 * 1024
# How many split lines a framer remembers, and the longest it keeps: about 1 MiB at most.
_CACHED_LINES = 4096
_CACHED_LINE_CHARS = 200


class _NotSplit(Exception):
    """A line without ``': '``: the frame takes the slow path (``':'`` splits, malformed)."""


class _LineCache(dict[str, tuple[str, str]]):
    """Header lines seen recently, each with its ``(key, value)`` pair; forgets all when full."""

    __slots__ = ()

    def __missing__(self, line: str) -> tuple[str, str]:
        key, sep, value = line.partition(": ")
        if not sep:
            raise _NotSplit
        pair = (key, value)
        # Asterisk stamps every event with its own Timestamp: remembering those would only
        # push out the lines that do come back.
        if len(line) <= _CACHED_LINE_CHARS and key != "Timestamp":
            if len(self) >= _CACHED_LINES:
                self.clear()  # cheaper than tracking age; live channels' lines come back at once
            self[line] = pair
        return pair


@dataclass(slots=True)
class FramerStats:
    """Counts what the framer produced and what it refused; one instance may span connections."""

    frames: int = 0
    frames_oversized: int = 0
    frames_too_many_headers: int = 0
    frames_unnamed: int = 0
    lines_malformed: int = 0
    lines_too_long: int = 0

    @property
    def frames_rejected(self) -> int:
        """Return how many messages were dropped whole."""
        return self.frames_oversized + self.frames_too_many_headers + self.frames_unnamed


class AmiFramer:
    """Split an AMI byte stream into frames; one instance per TCP connection."""

    def __init__(
        self,
        *,
        expect_banner: bool = True,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_headers: int = MAX_HEADERS,
        stats: FramerStats | None = None,
    ) -> None:
        if min(max_line_bytes, max_frame_bytes, max_headers) < 1:
            raise ValueError("framer limits must be positive")
        self.stats = stats if stats is not None else FramerStats()
        self.version: str | None = None
        self._expect_banner = expect_banner
        self._max_line = max_line_bytes
        self._max_frame = max_frame_bytes
        self._max_headers = max_headers
        self._tail = b""
        self._skipping = False
        self._pair_of = _LineCache().__getitem__

    @property
    def buffered(self) -> int:
        """Return how many bytes are held waiting for the end of a message."""
        return len(self._tail)

    def feed(self, data: bytes) -> list[AmiFrame]:
        """Consume one read from the socket and return the messages it completed, in order."""
        if len(data) <= _SLICE_BYTES:
            return self._feed(data)
        # asyncio reads up to 256 KiB at once under load; parsing it in cache-sized slices is
        # faster, and the result is the same (it never depends on how the stream is cut).
        frames: list[AmiFrame] = []
        for start in range(0, len(data), _SLICE_BYTES):
            frames += self._feed(data[start : start + _SLICE_BYTES])
        return frames

    def _feed(self, data: bytes) -> list[AmiFrame]:
        if not data:
            return []
        if self._skipping:
            data = self._skip_oversized(data)
            if not data:
                return []
        tail = self._tail
        scan_from = max(len(tail) - 2, 0)  # a separator is at most 3 bytes: LF [CR] LF
        buf = tail + data if tail else data
        if self._expect_banner:
            banner_end = self._read_banner(buf)
            if banner_end < 0:
                self._tail = buf
                return []
            buf, scan_from = buf[banner_end:], 0
        end = _last_separator_end(buf, scan_from)
        if end < 0:
            self._keep_tail(buf)
            return []
        self._keep_tail(buf[end:])
        return self._parse_region(buf[:end])

    def _read_banner(self, buf: bytes) -> int:
        """Take the banner line if ``buf`` starts with one; return where messages start, or -1."""
        eol = buf.find(b"\n")
        if eol < 0 and len(buf) <= self._max_line:
            return -1  # wait for the end of the first line
        self._expect_banner = False
        line = buf[:eol].removesuffix(b"\r") if eol >= 0 else b""
        if eol > self._max_line or not line.startswith(BANNER_PREFIX):
            return 0  # no banner (a replayed stream, or not Asterisk): read it as messages
        self.version = line[len(BANNER_PREFIX) :].decode("utf-8", "replace").strip()
        return eol + 1

    def _keep_tail(self, tail: bytes) -> None:
        """Hold a partial message, or start skipping it once it must end up too large."""
        if len(tail) - tail.count(b"\r\n") > self._max_frame + _TAIL_SLACK:
            self._skipping = True
            self._tail = tail[-2:]  # may hold the start of the separator
        else:
            self._tail = tail

    def _skip_oversized(self, data: bytes) -> bytes:
        """Drop bytes up to the end of an over-long message; return what follows it."""
        buf = self._tail + data
        ends = [i + n for i, n in ((buf.find(b"\n\n"), 2), (buf.find(b"\n\r\n"), 3)) if i >= 0]
        if not ends:
            self._tail = buf[-2:]
            return b""
        self._skipping = False
        self._tail = b""
        self.stats.frames_oversized += 1
        return buf[min(ends) :]

    def _parse_region(self, region: bytes) -> list[AmiFrame]:
        """Parse complete messages; ``region`` ends with an empty line."""
        frames: list[AmiFrame] = []
        stats = self.stats
        # A message no longer than both limits cannot break either: take the fast path.
        fast_limit, max_headers = min(self._max_line, self._max_frame), self._max_headers
        pair_of = self._pair_of
        if region.count(b"\n") == region.count(b"\r\n"):
            # Every line ends CR LF, as Asterisk writes: split on that, without a copy.
            blocks, eol, empty = region.split(b"\r\n\r\n"), "\r\n", b"\r\n"
        else:
            blocks, eol, empty = region.replace(b"\r\n", b"\n").split(b"\n\n"), "\n", b"\n"
        for block in blocks:
            if not block:
                continue
            if len(block) > fast_limit or block.startswith(empty):  # leading empty lines
                frame = self._parse_unusual(block.replace(b"\r\n", b"\n"))
                if frame is not None:
                    frames.append(frame)
                continue
            lines = block.decode("utf-8", "replace").split(eol)
            if len(lines) > max_headers:
                stats.frames_too_many_headers += 1
                continue
            try:
                frame = AmiFrame(map(pair_of, lines))
            except _NotSplit:
                frame = AmiFrame(self._parse_lines(lines))
            if frame and (frame[0][0] in _NAME_KEYS or _has_name(frame)):
                frames.append(frame)
            else:
                stats.frames_unnamed += 1
        stats.frames += len(frames)
        return frames

    def _parse_unusual(self, block: bytes) -> AmiFrame | None:
        """Parse a message that is large or starts with empty lines; apply every bound."""
        block = block.lstrip(b"\n")
        if not block:
            return None
        if len(block) > self._max_frame:
            self.stats.frames_oversized += 1
            return None
        raw_lines = block.split(b"\n")
        kept = [line for line in raw_lines if len(line) <= self._max_line]
        self.stats.lines_too_long += len(raw_lines) - len(kept)
        if len(kept) > self._max_headers:
            self.stats.frames_too_many_headers += 1
            return None
        lines = b"\n".join(kept).decode("utf-8", "replace").split("\n") if kept else []
        pairs = self._parse_lines(lines)
        if pairs and (pairs[0][0] in _NAME_KEYS or _has_name(pairs)):
            return AmiFrame(pairs)
        self.stats.frames_unnamed += 1
        return None

    def _parse_lines(self, lines: list[str]) -> list[tuple[str, str]]:
        """Parse header lines one by one: no-space colons, malformed lines, legacy bodies."""
        if lines and lines[0].startswith("Response: Follows"):
            return self._parse_legacy_follows(lines)
        pairs: list[tuple[str, str]] = []
        for line in lines:
            pair = _split_line(line)
            if pair is None:
                self.stats.lines_malformed += 1
            else:
                pairs.append(pair)
        return pairs

    def _parse_legacy_follows(self, lines: list[str]) -> list[tuple[str, str]]:
        """Turn a ``Response: Follows`` message into headers plus ``Output`` lines."""
        pairs: list[tuple[str, str]] = []
        in_body = False
        for line in lines:
            if not in_body:
                pair = _split_line(line)
                if pair is not None and pair[0].lower() in _LEGACY_HEADERS:
                    pairs.append(pair)
                    continue
                in_body = True
            output = line.removesuffix(_LEGACY_END)
            if output or output == line:
                pairs.append(("Output", output))
        return pairs


def _last_separator_end(buf: bytes, start: int) -> int:
    """Return the end of the last empty line (``LF [CR] LF``) at or after ``start``, or -1."""
    lf_cr_lf = buf.rfind(b"\n\r\n", start)
    # Only an LF LF from there on can end later; searching all of a CRLF stream for one would
    # scan every byte in vain.
    lf_lf = buf.rfind(b"\n\n", max(start, lf_cr_lf))
    return max(lf_lf + 2 if lf_lf >= 0 else -1, lf_cr_lf + 3 if lf_cr_lf >= 0 else -1)


def _split_line(line: str) -> tuple[str, str] | None:
    """Split one header line on the first ': ' (or ':'); return None if it has no colon."""
    key, sep, value = line.partition(": ")
    if sep:
        return key, value
    key, sep, value = line.partition(":")
    return (key, value) if sep else None


def _has_name(pairs: Sequence[tuple[str, str]]) -> bool:
    """Return True if some header is ``Event`` or ``Response`` in any case."""
    return any(key.lower() in ("event", "response") for key, _ in pairs)
