"""The uvicorn settings the web app is served with (the composition root and the tests use them).

Websockets are python-websockets' sans-IO protocol (``ws="websockets-sansio"``): it validates
UTF-8, answers pings, and closes a frame larger than the protocol's limit with 1009 before the
app sees it. uvicorn honours socket back-pressure, so a browser that stops reading blocks only
its own writer task (which the hub then closes).
"""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from agent_ui.protocol import MAX_FRAME_BYTES
from cti.config import HttpSettings

__all__ = ["server_config"]


def server_config(
    app: ASGIApp,
    http: HttpSettings,
    *,
    log_level: str = "info",
    ping_interval_s: float = 20.0,
    compress: bool = True,
) -> uvicorn.Config:
    """Return the uvicorn config that serves ``app`` on ``http.host:http.port``."""
    return uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        ws="websockets-sansio",
        ws_max_size=MAX_FRAME_BYTES,
        ws_ping_interval=ping_interval_s,
        ws_ping_timeout=ping_interval_s,
        ws_per_message_deflate=compress,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        log_config=None,  # the daemon configures logging once
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
