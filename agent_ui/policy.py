"""The web app's tunables, passed to ``create_app``; defaults suit one call-centre site."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from agent_ui.protocol import Disposition, Notes
from cti.principal import Principal

__all__ = ["AgentMessageHandler", "WebPolicy"]

# Store what an agent typed; raise a CtiError (NotFound, PermissionDenied...) to refuse it.
AgentMessageHandler = Callable[[Principal, Notes | Disposition], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebPolicy:
    session_max_age_s: float = 12 * 3600.0  # one shift; role changes apply at the next login
    same_site: Literal["strict", "lax"] = "strict"  # every flow is same-origin, so Strict works
    ticket_ttl_s: float = 30.0
    resume_timeout_s: float = 10.0  # a websocket must send ``resume`` this soon after opening
    message_timeout_s: float = 10.0  # on_agent_message must finish within this
    login_user_failures: int = 5  # failed logins per username per window
    login_user_window_s: float = 300.0
    login_ip_attempts: int = 30  # login attempts per client address per window
    login_ip_window_s: float = 60.0
    max_body_bytes: int = 16 * 1024
    ws_messages_per_s: float = 20.0  # sustained rate of browser messages per connection
    ws_message_burst: int = 40
