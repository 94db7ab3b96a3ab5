"""Record every AMI frame seen on live connections as JSON lines, for replay and test fixtures.

One line per frame, flushed as written so a crash loses at most the line being written::

    {"t": 1.25, "server": "pbx1", "frame": [["Event", "Newchannel"], ["Channel", "..."]]}

``t`` is seconds since the recording started, on the clock that stamped the frames
(``received_at``); :mod:`pbx_adapters.replay` reads the file back. Recording writes to disk
in the read path, so it is meant for lab sessions, not for a busy production server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from pbx_adapters.asterisk.frame import AmiFrame, FrameSink

__all__ = ["AmiRecorder"]


class AmiRecorder:
    """Write frames from one or more servers to one JSON-lines file."""

    def __init__(self, stream: IO[str], *, started_at: float | None = None) -> None:
        self._stream = stream
        self._started_at = started_at
        self.frames_written = 0

    @classmethod
    def open(cls, path: str | Path, *, started_at: float | None = None) -> AmiRecorder:
        """Start a recording in a new file (refuse to overwrite one)."""
        return cls(Path(path).open("x", encoding="utf-8"), started_at=started_at)

    def record(self, server: str, frame: AmiFrame, received_at: float) -> None:
        """Append one frame; the first frame recorded sets t=0 unless ``started_at`` was given."""
        if self._started_at is None:
            self._started_at = received_at
        line = {"t": round(received_at - self._started_at, 6), "server": server, "frame": frame}
        self._stream.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._stream.flush()
        self.frames_written += 1

    def tap(self, server: str) -> FrameSink:
        """Return a sink for ``AmiConnection(tap=...)`` that records frames of ``server``."""

        def record(frame: AmiFrame, received_at: float) -> None:
            self.record(server, frame, received_at)

        return record

    def close(self) -> None:
        """Close the file."""
        self._stream.close()

    def __enter__(self) -> AmiRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
