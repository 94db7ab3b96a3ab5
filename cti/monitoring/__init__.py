"""Supervisors listen to, whisper to and barge into their agents' live calls (issue 19).

Asterisk does the audio: :class:`MonitorService` originates a call to the supervisor's own
phone into the dialplan's ``cti-spy`` context, which ChanSpies the agent's channel in the chosen
mode. The web edge reaches it through :mod:`agent_ui.monitoring_api`; the root wires the PBX
commands (:class:`SpyCommands`) and what the agent is told (:class:`MonitorNotifier`).
"""

from cti.monitoring.service import (
    CallLookup,
    Mode,
    MonitorNotifier,
    MonitorService,
    MonitorSession,
    SpyCommands,
)

__all__ = [
    "CallLookup",
    "Mode",
    "MonitorNotifier",
    "MonitorService",
    "MonitorSession",
    "SpyCommands",
]
