"""The uvicorn settings the web app is served with (the composition root and the tests use them).

Websockets are python-websockets' sans-IO protocol (``ws="websockets-sansio"``): it validates
UTF-8, answers pings, and closes a frame larger than the protocol's limit with 1009 before the
app sees it. uvicorn honours socket back-pressure, so a browser that stops reading blocks only
its own writer task (which the hub then closes).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.server import ServerProtocol

from agent_ui.deflate import LeanDeflateFactory
from agent_ui.lean_sync import Flag, Inbox
from agent_ui.protocol import MAX_FRAME_BYTES
from cti.config import HttpSettings

__all__ = ["LeanWebSocketProtocol", "TicketRedactor", "server_config"]

_TICKET = re.compile(r"(ticket=)[^&\s\"]+")


class TicketRedactor(logging.Filter):
    """Blank websocket tickets out of uvicorn's log lines (``GET /ws?ticket=...``).

    A ticket is a bearer credential for its 30 s: whoever reads a log line in time could open
    the agent's socket. uvicorn logs the path with its query (access log, and the websocket's
    ``[accepted]`` line), so the ticket is replaced by ``ticket=<redacted>`` before any handler
    formats the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and "ticket=" in a for a in record.args
        ):
            record.args = tuple(
                _TICKET.sub(r"\1<redacted>", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def _redact_tickets() -> None:
    """Install :class:`TicketRedactor` on uvicorn's loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        target = logging.getLogger(name)
        if not any(isinstance(f, TicketRedactor) for f in target.filters):
            target.addFilter(TicketRedactor())


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-IO websockets, with permessage-deflate that keeps no context between
    messages (RFC 7692 section 7.1.1): a kept compressor and decompressor cost about 40 KiB per
    idle connection, more than everything else an agent's connection holds. Pops are
    compressed one by one, so the ratio barely changes; short messages are not compressed
    (agent_ui.deflate). Once the handshake is done the parsed request and response are dropped:
    their headers would otherwise stay with every connection for its whole life. The received
    messages queue and the writable flag are slim versions (agent_ui.lean_sync)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag(is_set=True)  # type: ignore[assignment]
        if self.config.ws_per_message_deflate:
            deflate = LeanDeflateFactory(
                server_max_window_bits=12,
                client_max_window_bits=12,
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                compress_settings={"memLevel": 5},
            )
            self.conn = ServerProtocol(
                extensions=[deflate],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # websockets' parser keeps the request for the connection's life: empty its headers.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


def server_config(
    app: ASGIApp,
    http: HttpSettings,
    *,
    log_level: str = "info",
    ping_interval_s: float = 20.0,
    compress: bool = True,
) -> uvicorn.Config:
    """Return the uvicorn config that serves ``app`` on ``http.host:http.port``."""
    _redact_tickets()
    return uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        ws=LeanWebSocketProtocol,
        ws_max_size=MAX_FRAME_BYTES,
        ws_ping_interval=ping_interval_s,
        ws_ping_timeout=ping_interval_s,
        ws_per_message_deflate=compress,
        lifespan="off",
        # X-Forwarded-For is believed only from the proxies the admin names (login throttling
        # and logs then see the client's address); from anyone else it is ignored.
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies) or None,
        server_header=False,
        log_config=None,  # the daemon configures logging once
        log_level=log_level,
        timeout_graceful_shutdown=5,
        # [http] tls_certfile/tls_keyfile: HTTPS here (phones' files, the consoles) without a proxy.
        ssl_certfile=str(http.tls_certfile) if http.tls_certfile else None,
        ssl_keyfile=str(http.tls_keyfile) if http.tls_keyfile else None,
    )
