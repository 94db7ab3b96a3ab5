"""The agent websocket ``/ws``: admit at the handshake, resume, then pump messages both ways.

Admission happens before ``accept``: an unknown ``Origin`` or a missing session (cookie or
single-use ``?ticket=``, either checked with the session registry) is refused with HTTP 403, so
a cross-site page never gets a socket carrying the agent's cookie. After ``accept`` the browser
must send ``resume`` within ``resume_timeout_s``; a user already holding
``max_sockets_per_user`` sockets then gets this one closed with 4008. Otherwise the hub queues
``hello`` and the catch-up, and this handler runs the connection's writer as a task it owns and
reads in its own task (the server's) until either ends; the socket is closed (1008) as soon as
its session ends (agent_ui.session_guard). The session's expiry is a timer, not a task:
thousands of idle connections each hold as little as possible (docs/performance.md, memory per
agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from agent_ui import messages
from agent_ui.hub import AgentHub, Connection
from agent_ui.policy import AgentMessageHandler, WebPolicy
from agent_ui.protocol import CloseCode, Disposition, Incoming, Notes, Ping, Resume, decode
from agent_ui.security import OriginPolicy
from agent_ui.session import Session
from agent_ui.session_guard import SessionGuard, request_session
from agent_ui.tickets import TicketBook
from cti.errors import (
    AuthenticationRequired,
    BrowserGone,
    BrowserProtocolError,
    CtiError,
    PolicyViolation,
    RequestTimedOut,
)
from cti.principal import Action, Principal, require

__all__ = ["AgentSocket", "WebSocketSender"]

log = logging.getLogger(__name__)


class WebSocketSender:
    """The hub's Sender over a Starlette websocket; library errors become BrowserGone."""

    __slots__ = ("_ws",)

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send_text(self, text: str) -> None:
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise BrowserGone("the browser's websocket is closed") from exc

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._ws.close(code, reason)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise BrowserGone("the browser's websocket is closed") from exc


class _Bucket:
    """Token bucket bounding how fast one browser may send messages."""

    __slots__ = ("_at", "_burst", "_clock", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, float(burst), clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class AgentSocket:
    """The /ws endpoint (:meth:`endpoint`); one call per connection."""

    def __init__(
        self,
        *,
        hub: AgentHub,
        guard: SessionGuard,
        tickets: TicketBook,
        origins: OriginPolicy,
        policy: WebPolicy,
        on_agent_message: AgentMessageHandler,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._hub, self._guard, self._tickets, self._origins = hub, guard, tickets, origins
        self._policy, self._on_message = policy, on_agent_message
        self._clock, self._wall_clock = clock, wall_clock

    async def endpoint(self, websocket: WebSocket) -> None:
        """Serve one websocket connection from handshake to close."""
        try:
            session = await self._admit(websocket)
        except CtiError as exc:
            await _refuse(websocket, exc)
            return
        await websocket.accept()
        # Admitted: the handshake's headers (cookie included) have served; the scope would keep
        # them for the connection's life, ~1.5 KiB on each of thousands of idle sockets.
        if isinstance(websocket.scope.get("headers"), list):
            websocket.scope["headers"].clear()
        try:
            resume = await self._first_resume(websocket)
        except BrowserProtocolError as exc:
            await _close_quietly(websocket, exc.close_code or CloseCode.POLICY_VIOLATION, exc)
            return
        if resume is None:
            return  # the browser left before resuming
        cap = self._policy.max_sockets_per_user
        if self._hub.connections_of(session.principal.username) >= cap:
            problem = PolicyViolation(f"too many open connections ({cap}): close another tab")
            await _close_quietly(websocket, CloseCode.TOO_MANY_CONNECTIONS, problem)
            return
        with self._hub.serving(session.principal.username):
            await self._open_and_serve(websocket, session, resume)

    async def _open_and_serve(self, websocket: WebSocket, session: Session, resume: Resume) -> None:
        try:
            # A tab that moved from another node finds what it missed in the broker's replay.
            earlier = await self._hub.catch_up(
                session.principal.username, resume.last_seq, resume.epoch
            )
            conn = self._hub.open(
                session.principal,
                WebSocketSender(websocket),
                last_seq=resume.last_seq,
                epoch=resume.epoch,
                session_id=session.session_id,
                earlier=earlier,
            )
        except Exception:
            log.exception("agent %s: could not open a hub connection", session.principal.username)
            await _close_quietly(websocket, CloseCode.INTERNAL_ERROR, None)
            return
        self._guard.watch(conn)
        try:
            await self._serve(websocket, conn, session)
        finally:
            self._guard.unwatch(conn)

    async def _admit(self, websocket: WebSocket) -> Session:
        """Return the session this handshake carries, or raise why it is refused."""
        self._origins.check_websocket(websocket.headers)
        ticket = websocket.query_params.get("ticket")
        session: Session | None
        if ticket is not None:
            session = await self._tickets.redeem(ticket)
            session = await self._guard.confirm(session) if session is not None else None
        else:
            session = request_session(websocket)  # checked as the handshake came in
        if session is None:
            raise AuthenticationRequired("log in (session cookie) or get a ticket from the API")
        require(session.principal, Action.RECEIVE_POPS)
        return session

    async def _first_resume(self, websocket: WebSocket) -> Resume | None:
        try:
            async with asyncio.timeout(self._policy.resume_timeout_s):
                event = await websocket.receive()
        except TimeoutError:
            raise PolicyViolation("send resume first") from None
        if event["type"] == "websocket.disconnect":
            return None
        text = event.get("text")
        message = decode(text if text is not None else event.get("bytes", b""))
        if not isinstance(message, Resume):
            raise PolicyViolation("the first message must be resume")
        return message

    async def _serve(self, websocket: WebSocket, conn: Connection, session: Session) -> None:
        """Read in this task while a writer task drains the hub's queue, until either ends.

        The writer ends once the connection is closed (by the hub, the reader or the session's
        expiry timer); a read still waiting then is cancelled through a timeout scope, as
        ``asyncio.timeout`` cancels, so nothing else cancels the server's task.
        """
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(
            max(0.0, session.expires_at - self._wall_clock()),
            conn.close,
            CloseCode.POLICY_VIOLATION,
            "session expired: log in again",
        )
        writer = loop.create_task(conn.run(), name=f"ws writer {conn.agent}")
        reading = True
        try:
            async with asyncio.timeout(None) as scope:

                def stop_reading(_: object) -> None:
                    if reading:
                        scope.reschedule(loop.time())

                writer.add_done_callback(stop_reading)
                await self._read(websocket, conn)
        except TimeoutError:
            pass  # the writer ended first
        finally:
            reading = False
            expiry.cancel()
            conn.close()
            await writer

    async def _read(self, websocket: WebSocket, conn: Connection) -> None:
        bucket = _Bucket(self._policy.ws_messages_per_s, self._policy.ws_message_burst, self._clock)
        try:
            while not conn.closed:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    conn.abandon()
                    return
                text = event.get("text")
                try:
                    if not bucket.take():
                        raise PolicyViolation("too many messages; slow down")
                    frame = text if text is not None else event.get("bytes") or b""
                    await self._handle(conn, decode(frame))
                except BrowserProtocolError as exc:
                    if exc.close_code is not None:
                        conn.close(exc.close_code, exc.message)
                        return
                    conn.reply(messages.error(exc, ref=exc.ref))
        finally:
            conn.close()

    async def _handle(self, conn: Connection, message: Incoming) -> None:
        match message:
            case Ping(ref=ref):
                conn.reply(messages.pong(ref))
            case Resume():
                conn.reply(messages.error(PolicyViolation("resume only opens a connection")))
            case Notes() | Disposition():
                await self._store(conn, conn.principal, message)

    async def _store(
        self, conn: Connection, principal: Principal, msg: Notes | Disposition
    ) -> None:
        try:
            require(principal, Action.WRITE_CALL_NOTES)
            async with asyncio.timeout(self._policy.message_timeout_s):
                await self._on_message(principal, msg)
        except TimeoutError:
            conn.reply(
                messages.error(RequestTimedOut("not saved in time; send again"), ref=msg.ref)
            )
        except CtiError as exc:
            conn.reply(messages.error(exc, ref=msg.ref))
        except Exception:
            log.exception("agent %s: storing %s failed", principal.username, type(msg).__name__)
            conn.reply(messages.error(CtiError("internal error; send again"), ref=msg.ref))
        else:
            if isinstance(msg, Notes):
                saved = messages.notes_saved(msg.call_id, len(msg.text), ref=msg.ref)
            else:
                saved = messages.disposition_saved(msg.call_id, msg.value, ref=msg.ref)
            self._hub.send(principal.username, saved)


async def _refuse(websocket: WebSocket, problem: CtiError) -> None:
    """Answer the handshake with HTTP 403 and the error as JSON; never accept."""
    try:
        await websocket.send_denial_response(JSONResponse(problem.as_dict(), status_code=403))
    except RuntimeError:  # a server without the denial-response extension: a bare 403
        await websocket.close(CloseCode.POLICY_VIOLATION)


async def _close_quietly(websocket: WebSocket, code: int, problem: CtiError | None) -> None:
    reason = problem.message[:120] if problem is not None else ""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(code, reason)
