"""The Asterisk AMI adapter: transport (framer, connection), commands; frames out, actions in.

Only this package imports panoramisk, and only in :mod:`pbx_adapters.asterisk.connection`.
"""

from __future__ import annotations

from pbx_adapters.asterisk.commands import AsteriskCommands, OriginateResult
from pbx_adapters.asterisk.connection import AmiConnection, AmiConnectionStats, AmiSettings, State
from pbx_adapters.asterisk.frame import AmiFrame, FrameSink
from pbx_adapters.asterisk.framer import AmiFramer, FramerStats

__all__ = [
    "AmiConnection",
    "AmiConnectionStats",
    "AmiFrame",
    "AmiFramer",
    "AmiSettings",
    "AsteriskCommands",
    "FrameSink",
    "FramerStats",
    "OriginateResult",
    "State",
]
