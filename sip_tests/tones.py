"""Which test tones a recording holds, and when: a Goertzel detector over 16-bit mono WAV files.

The lab's audio checks give every party of a call its own sine tone (a pjsua2 phone's
``play_tone``) and record what each party receives (``start_recording``) or what Asterisk's
MixMonitor wrote. :func:`tone_levels` measures, per tone, the amplitude the file carries at that
frequency over a window; a party heard another when that party's tone is loud in its recording.
Plain Python (no numpy in the lab venv): a 2-second window at 16 kHz is 32k samples per tone.
"""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Audio", "goertzel_amplitude", "read_wav", "rms", "tone_levels"]


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono 16-bit samples and their rate, read from a WAV file."""

    rate: int
    samples: Sequence[int]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def window(self, start_s: float, end_s: float) -> Sequence[int]:
        """The samples from ``start_s`` to ``end_s`` (clamped to the file)."""
        first = max(0, int(start_s * self.rate))
        last = (
            len(self.samples) if end_s * self.rate >= len(self.samples) else int(end_s * self.rate)
        )
        return self.samples[first:last]


def read_wav(path: Path) -> Audio:
    """Read a 16-bit PCM WAV (pjsua2's recorder, MixMonitor's ``.wav``); the first channel."""
    with wave.open(str(path)) as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples, expected 16")
        channels = wav.getnchannels()
        frames = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    count = len(frames) // 2
    samples = struct.unpack(f"<{count}h", frames[: 2 * count])
    return Audio(rate, samples[::channels] if channels > 1 else samples)


def goertzel_amplitude(samples: Sequence[int], rate: int, hz: float) -> float:
    """The amplitude (peak, in sample units) of the ``hz`` component of ``samples``.

    Goertzel's recurrence evaluates one DFT bin; with the window a whole number of periods
    long the bin is exact, and 2|X|/N is the sine's amplitude. A Hann window keeps a loud tone
    nearby from leaking into the bin.
    """
    n = len(samples)
    if n < 2:
        return 0.0
    coeff = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    step = 2.0 * math.pi / (n - 1)
    for i, x in enumerate(samples):
        weighted = x * (0.5 - 0.5 * math.cos(step * i))
        s1, s2 = weighted + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2.0 * math.sqrt(max(power, 0.0)) / (n / 2)  # the Hann window's gain is 1/2


def rms(samples: Sequence[int]) -> float:
    """The root-mean-square level of ``samples`` (0 for digital silence)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(x * x for x in samples) / len(samples))


def tone_levels(
    audio: Audio, tones: Iterable[float], start_s: float = 0.0, end_s: float = math.inf
) -> dict[float, float]:
    """The amplitude of each tone in the window (whole file by default)."""
    part = audio.window(start_s, end_s)
    return {hz: round(goertzel_amplitude(part, audio.rate, hz), 1) for hz in tones}
