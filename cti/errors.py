"""One exception tree for the product, split by who is at fault.

Third-party exceptions (panoramisk, SQLAlchemy, simple-salesforce, OS errors) are translated at
the boundary that calls them (``raise SomeCtiError(...) from exc``); nothing above a boundary
catches a library's own exception type.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmiActionFailed",
    "AmiConnectionLost",
    "AmiError",
    "AmiProtocolError",
    "AuthenticationRequired",
    "BrokerUnavailable",
    "BrowserGone",
    "BrowserProtocolError",
    "ConfigError",
    "Conflict",
    "CrmAccountLocked",
    "CrmAuthFailed",
    "CrmError",
    "CrmSessionExpired",
    "CrmTimeout",
    "CrmUnavailable",
    "CsrfRejected",
    "CtiError",
    "DialRefused",
    "InvalidField",
    "InvalidPayload",
    "LabError",
    "MessageTooBig",
    "NotFound",
    "OriginRejected",
    "OwnerUnreachable",
    "PayloadTooLarge",
    "PermissionDenied",
    "PolicyViolation",
    "RateLimited",
    "RequestTimedOut",
    "StoreError",
    "StoreUnavailable",
    "TemplateError",
    "UnknownMessageType",
    "UnsupportedData",
    "ValidationFailed",
]


class CtiError(Exception):
    """Root of every error the product raises on purpose.

    ``error_id`` is stable (clients and tests match on it); ``status`` is the HTTP status a web
    boundary answers with; ``details`` is what a person needs to act on.
    """

    error_id = "cti.error"
    status = 500

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = details or {}

    def as_dict(self) -> dict[str, object]:
        """Return the JSON body an HTTP or websocket boundary sends for this error."""
        return {"error": self.error_id, "message": self.message, "details": self.details}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its details (it crosses from the report worker's process)."""
        return (_rebuilt, (type(self), self.message, self.details))


def _rebuilt(cls: type[CtiError], message: str, details: dict[str, object]) -> CtiError:
    return cls(message, details=details)


class ConfigError(CtiError):
    """The configuration (file, environment or defaults) holds a bad value."""

    error_id = "cti.config"


class LabError(CtiError):
    """The lab Asterisk cannot be set up, started or stopped; the message says how to fix it."""

    error_id = "cti.lab"


class AmiError(CtiError):
    """Something went wrong talking to an Asterisk server over AMI."""

    error_id = "ami.error"
    status = 502


class AmiProtocolError(AmiError):
    """The remote Asterisk (or something pretending to be it) sent a frame we cannot accept."""

    error_id = "ami.protocol"


class AmiConnectionLost(AmiError):
    """The AMI connection dropped while an action was in flight; its outcome is unknown."""

    error_id = "ami.connection_lost"
    status = 503


class AmiActionFailed(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    error_id = "ami.action_failed"


class CrmError(CtiError):
    """A CRM connector failed."""

    error_id = "crm.error"
    status = 502


class CrmUnavailable(CrmError):
    """The CRM cannot be reached now; the caller may retry later."""

    error_id = "crm.unavailable"
    status = 503


class CrmTimeout(CrmUnavailable):
    """The CRM did not answer within the configured time."""

    error_id = "crm.timeout"
    status = 504


class CrmAuthFailed(CrmError):
    """The CRM refused the connector's credentials; an administrator must fix them.

    Retrying does not help until someone changes the configuration (password, security token,
    key, user) or the CRM side (permissions, connected app); ``details`` says which.
    """

    error_id = "crm.auth_failed"


class CrmAccountLocked(CrmAuthFailed):
    """The CRM locked the integration user out (too many failed logins); unlock it in the CRM."""

    error_id = "crm.account_locked"


class CrmSessionExpired(CrmAuthFailed):
    """The CRM session expired and could not be renewed (or expired again right after)."""

    error_id = "crm.session_expired"


class TemplateError(CtiError):
    """A pop template failed to compile or render (syntax, undefined name, sandbox, limits)."""

    error_id = "template.error"
    status = 422


class ValidationFailed(CtiError):
    """A request carried a value the product refuses (bad number, bad field)."""

    error_id = "request.invalid"
    status = 422


class DialRefused(ValidationFailed):
    """A click-to-dial request was refused before it reached the PBX."""

    error_id = "dial.refused"
    status = 403


class PermissionDenied(CtiError):
    """The authenticated user may not do this."""

    error_id = "auth.forbidden"
    status = 403


class NotFound(CtiError):
    """The thing asked for does not exist (or is not visible to this user)."""

    error_id = "not_found"
    status = 404


class Conflict(CtiError):
    """The change clashes with what exists (a username, endpoint, DID or name already taken)."""

    error_id = "conflict"
    status = 409


class StoreError(CtiError):
    """The daemon's own database (config, agents, notes, outbox) failed."""

    error_id = "store.error"


class StoreUnavailable(StoreError):
    """The daemon's database cannot be reached now; the caller may retry later."""

    error_id = "store.unavailable"
    status = 503


class BrokerUnavailable(CtiError):
    """The cluster's message broker cannot be reached now (docs/scale-out.md); retried."""

    error_id = "cluster.broker_unavailable"
    status = 503


class OwnerUnreachable(CtiError):
    """No node owns the PBX server a command is for, or its owner did not answer in time."""

    error_id = "cluster.owner_unreachable"
    status = 503


class PayloadTooLarge(ValidationFailed):
    """An HTTP request body is larger than the endpoint accepts."""

    error_id = "request.too_large"
    status = 413


class RequestTimedOut(CtiError):
    """The daemon did not finish a request in time; its outcome is unknown, retrying is safe."""

    error_id = "request.timeout"
    status = 504


class AuthenticationRequired(CtiError):
    """No valid session (or websocket ticket) came with the request: log in first."""

    error_id = "auth.unauthenticated"
    status = 401


class CsrfRejected(PermissionDenied):
    """A state-changing request lacked the session's ``X-CTI-CSRF`` token."""

    error_id = "auth.csrf"


class OriginRejected(PermissionDenied):
    """The request's ``Origin`` is not this service's public origin nor an allowed one."""

    error_id = "auth.origin"


class RateLimited(CtiError):
    """Too many attempts; ``details['retry_after_s']`` says when to try again."""

    error_id = "rate_limited"
    status = 429


class BrowserGone(CtiError):
    """An agent's websocket closed while the daemon was writing to it."""

    error_id = "browser.gone"
    status = 410


class BrowserProtocolError(CtiError):
    """A browser sent a websocket frame the agent protocol does not accept.

    ``close_code`` is the websocket close code (RFC 6455 section 7.4.1) the connection is closed
    with, or None when the problem is recoverable: the daemon answers an ``error`` message and
    keeps the connection. ``ref`` is the client's request reference when it could be read.
    """

    error_id = "protocol.error"
    status = 400
    close_code: int | None = 1008

    def __init__(
        self, message: str, *, ref: str | None = None, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.ref = ref


class UnsupportedData(BrowserProtocolError):
    """A binary frame: the protocol is JSON text only (close 1003)."""

    error_id = "protocol.unsupported_data"
    close_code = 1003


class InvalidPayload(BrowserProtocolError):
    """A text frame that is not a well-formed protocol envelope (close 1007)."""

    error_id = "protocol.invalid_payload"
    close_code = 1007


class PolicyViolation(BrowserProtocolError):
    """A well-formed message the connection may not send now (close 1008)."""

    error_id = "protocol.policy"
    close_code = 1008


class MessageTooBig(BrowserProtocolError):
    """A frame larger than the protocol's limit (close 1009)."""

    error_id = "protocol.too_big"
    close_code = 1009


class UnknownMessageType(BrowserProtocolError):
    """A well-formed envelope of a type this daemon does not know (answered, not closed)."""

    error_id = "protocol.unknown_type"
    close_code = None


class InvalidField(BrowserProtocolError):
    """A known message with a missing, mistyped or oversized field (answered, not closed)."""

    error_id = "protocol.invalid_field"
    status = 422
    close_code = None
