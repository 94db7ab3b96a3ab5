"""Missed calls: calls that rang an agent and that no one answered, kept per agent in the store.

:class:`MissedCalls` is fed the call updates on the AMI read path (never blocking) and writes
them off the loop; agents read and clear their own list (``agent_ui.missed_calls_api``) and
every tab hears of changes through :class:`MissedCallNotifier`. Its table is
:mod:`cti.store.missed_call_tables` (migration s0016).
"""

from __future__ import annotations

from cti.missed_calls.missed import MissedCall, missed_calls_of
from cti.missed_calls.service import (
    MissedCallList,
    MissedCallNotFound,
    MissedCallNotifier,
    MissedCalls,
)

__all__ = [
    "MissedCall",
    "MissedCallList",
    "MissedCallNotFound",
    "MissedCallNotifier",
    "MissedCalls",
    "missed_calls_of",
]
