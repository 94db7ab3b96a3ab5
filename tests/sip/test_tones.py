"""The Goertzel detector the lab's audio checks rely on, on synthesized WAV files."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from sip_tests.tones import goertzel_amplitude, read_wav, rms, tone_levels


def _write(path: Path, rate: int, parts: list[tuple[float, dict[int, int]]]) -> None:
    """Write mono 16-bit ``parts``: (seconds, {hz: amplitude}) one after another."""
    samples: list[int] = []
    for seconds, tones in parts:
        for i in range(int(seconds * rate)):
            value = sum(a * math.sin(2 * math.pi * hz * i / rate) for hz, a in tones.items())
            samples.append(round(value))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_each_tone_is_measured_apart_from_the_others(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "mix.wav"
    _write(path, rate, [(1.0, {600: 8000, 1000: 3000})])
    levels = tone_levels(read_wav(path), (600, 1000, 1500))
    assert levels[600] == pytest.approx(8000, rel=0.02)
    assert levels[1000] == pytest.approx(3000, rel=0.02)
    assert levels[1500] < 20  # absent: no leakage from the loud neighbours


def test_windows_find_where_a_tone_stops(tmp_path: Path) -> None:
    path = tmp_path / "gap.wav"
    _write(path, 8000, [(1.0, {600: 5000}), (1.0, {}), (1.0, {600: 5000})])
    audio = read_wav(path)
    assert audio.seconds == pytest.approx(3.0)
    assert tone_levels(audio, (600,), 0.1, 0.9)[600] > 4500
    assert tone_levels(audio, (600,), 1.1, 1.9)[600] == 0.0
    assert rms(audio.window(1.05, 1.95)) == 0.0
    assert rms(audio.window(2.1, 2.9)) == pytest.approx(5000 / math.sqrt(2), rel=0.02)


def test_short_and_odd_input() -> None:
    assert goertzel_amplitude([], 8000, 600) == 0.0
    assert rms([]) == 0.0


def test_only_16_bit_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "8bit.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * 800)
    with pytest.raises(ValueError, match="8-bit"):
        read_wav(path)
