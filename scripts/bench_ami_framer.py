"""Print AMI framer throughput (frames/s) on the recorded lab transcripts, next to panoramisk's.

Run: ``.venv/bin/python scripts/bench_ami_framer.py [--frames N] [--chunk BYTES]``.
The wire stream is rebuilt from ``tests/fixtures/ami/*.jsonl`` (real Asterisk 22 frames), then
repeated. Not a test: timings depend on the machine; nothing asserts on them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol

from pbx_adapters.asterisk.framer import AmiFramer
from pbx_adapters.replay import read_recording

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def wire_stream(frames_wanted: int) -> tuple[bytes, int]:
    """Return the transcripts' frames as AMI wire bytes, repeated to about ``frames_wanted``."""
    frames = [
        item.frame for path in sorted(FIXTURES.glob("*.jsonl")) for item in read_recording(path)
    ]
    one_pass = b"".join(
        "".join(f"{key}: {value}\r\n" for key, value in frame).encode() + b"\r\n"
        for frame in frames
    )
    repeats = max(1, frames_wanted // len(frames))
    return BANNER + one_pass * repeats, len(frames) * repeats


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_framer(pieces: list[bytes]) -> int:
    """Frame each read the way ``AmiConnection`` does: in 8 KiB slices, frames handed on."""
    framer = AmiFramer()
    count = 0
    for piece in pieces:
        for start in range(0, len(piece), 8192):
            count += len(framer.feed(piece[start : start + 8192]))
    return count


def run_panoramisk(pieces: list[bytes]) -> int:
    count = 0

    class Factory:
        save_stream = None

        def dispatch(self, message: object) -> None:
            nonlocal count
            count += 1

    protocol = AMIProtocol()
    protocol.connection_made(None)
    protocol.factory = Factory()
    protocol.encoding = "utf8"
    for piece in pieces:
        protocol.data_received(piece)
    return count


def best_rate(run: Callable[[list[bytes]], int], pieces: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run(pieces)
        best = min(best, time.process_time() - started)
    return run(pieces) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data, frames = wire_stream(args.frames)
    pieces = chunks(data, args.chunk)
    ours = best_rate(run_framer, pieces, args.repeat)
    stock = best_rate(run_panoramisk, pieces, args.repeat)
    print(f"stream: {frames} frames, {len(data) / 1e6:.1f} MB, {args.chunk}-byte reads")
    print(f"AmiFramer:              {ours:10,.0f} frames/s")
    print(f"panoramisk AMIProtocol: {stock:10,.0f} frames/s (its Message objects included)")
    print(f"ratio:                  {ours / stock:10.2f}x")


if __name__ == "__main__":
    main()
