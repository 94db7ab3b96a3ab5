"""The web app's tunables, passed to ``create_app``; defaults suit one call-centre site."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from agent_ui.protocol import Disposition, Notes
from cti.principal import Principal, Role

__all__ = ["AgentMessageHandler", "WebPolicy"]

# Store what an agent typed; raise a CtiError (NotFound, PermissionDenied...) to refuse it.
AgentMessageHandler = Callable[[Principal, Notes | Disposition], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebPolicy:
    session_max_age_s: float = 12 * 3600.0  # a session ends this long after login, at the latest
    # Unused this long, a session ends: agents keep a shift's desktop open between calls (its
    # socket counts as use); the consoles that change the PBX and groups lock sooner.
    agent_idle_s: float = 8 * 3600.0
    supervisor_idle_s: float = 30 * 60.0
    admin_idle_s: float = 30 * 60.0
    session_check_s: float = 2.0  # open sockets' sessions are re-checked this often
    max_sockets_per_user: int = 10  # one more is closed with 4008
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

    def idle_s(self, role: Role) -> float:
        """How long a session of ``role`` may go unused."""
        return {
            Role.AGENT: self.agent_idle_s,
            Role.SUPERVISOR: self.supervisor_idle_s,
            Role.ADMIN: self.admin_idle_s,
        }[role]
