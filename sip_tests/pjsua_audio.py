"""Tones into calls and recordings of what calls receive, on the pjsua2 thread.

The fleet's sound device is pjsua's null device: its clock drives the conference bridge, so a
tone generator connected to a call's audio port is sent as RTP, and a recorder connected from
that port writes what the far end sent (a 16-bit WAV at the bridge's clock rate). The lab's
audio checks (listen/whisper/barge, recordings) give each party its own tone and look for it in
the others' recordings (:mod:`sip_tests.tones`).

Every pjsua2 object here is created and deleted on the pjsua2 thread; :meth:`CallAudio.drop_all`
runs in the fleet's teardown, before the Endpoint is destroyed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pjsua2 as pj

from sip_tests.phone_call import PhoneError
from sip_tests.pjsua_agent import AgentCall

__all__ = ["CallAudio", "finished"]

_TONE_MS = 30_000  # one tone segment (ToneDesc fields are C shorts); played in a loop


class CallAudio:
    """The tone generators and recorders attached to the fleet's calls, by call key."""

    def __init__(self) -> None:
        self._tones: dict[int, Any] = {}
        self._recorders: dict[int, tuple[Any, Path]] = {}

    def play_tone(self, key: int, call: AgentCall, hz: int) -> None:
        """Send a steady sine of ``hz`` into the call (replacing any tone it had)."""
        self._tones.pop(key, None)
        tone = pj.ToneGenerator()
        tone.createToneGenerator()
        desc = pj.ToneDesc()
        desc.freq1 = hz
        desc.freq2 = 0
        desc.on_msec = _TONE_MS
        desc.off_msec = 0
        desc.volume = 0  # pjmedia's default level, about -8 dBm0
        descs = pj.ToneDescVector()
        descs.append(desc)
        tone.play(descs, True)
        tone.startTransmit(_audio(call, key))
        self._tones[key] = tone

    def stop_tone(self, key: int) -> None:
        """Stop the call's tone (deleting the generator disconnects it)."""
        self._tones.pop(key, None)

    def start_recording(self, key: int, call: AgentCall, path: Path) -> None:
        """Write what the call receives to ``path`` until :meth:`stop_recording`."""
        if key in self._recorders:
            raise PhoneError(f"call #{key} is already being recorded")
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        _audio(call, key).startTransmit(recorder)
        self._recorders[key] = (recorder, path)

    def stop_recording(self, key: int) -> Path:
        """Close the call's recording and return its path.

        Deleting the recorder removes its port from the conference bridge; pjmedia does that
        (and the WAV writer's close, which writes the header's sizes) on the bridge's clock
        tick, so the file is complete a frame or two later (see ``finished``).
        """
        entry = self._recorders.pop(key, None)
        if entry is None:
            raise PhoneError(f"call #{key} has no recording running")
        return entry[1]

    def drop_all(self) -> None:
        """Delete every generator and recorder (fleet teardown, before libDestroy)."""
        self._tones.clear()
        self._recorders.clear()


def finished(path: Path) -> bool:
    """Whether a recorder's WAV file is closed: its RIFF size counts the whole file."""
    try:
        with path.open("rb") as file:
            head = file.read(8)
    except FileNotFoundError:
        return False
    size = path.stat().st_size
    return head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") == size - 8 > 36


def _audio(call: AgentCall, key: int) -> Any:
    """The call's audio port on the conference bridge, once its media is up."""
    try:
        return call.getAudioMedia(-1)
    except pj.Error:
        raise PhoneError(f"call #{key} has no active audio yet (wait_media ACTIVE)") from None
