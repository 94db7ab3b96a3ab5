"""Calls recorded per group policy, paused by the agent, played to who may hear them (issue 19).

Asterisk writes the files (MixMonitor, started and named by the dialplan from the policies
:mod:`cti.recording.dialplan` publishes); :class:`RecordingService` keeps the policies and the
rows (:mod:`cti.recording.tables`, migration s0011), decides who may hear a recording and
deletes files past their group's retention. The web edge reaches it through
:mod:`agent_ui.recording_api`.
"""

from cti.recording.rows import GroupPolicy, Policy, RecordingRow
from cti.recording.service import (
    RecordCommands,
    RecordingNotifier,
    RecordingService,
    RecordingStatus,
)

__all__ = [
    "GroupPolicy",
    "Policy",
    "RecordCommands",
    "RecordingNotifier",
    "RecordingRow",
    "RecordingService",
    "RecordingStatus",
]
