"""One exception tree for the product, split by who is at fault.

Third-party exceptions (panoramisk, SQLAlchemy, simple-salesforce, OS errors) are translated at
the boundary that calls them (``raise SomeCtiError(...) from exc``); nothing above a boundary
catches a library's own exception type.
"""

from __future__ import annotations

__all__ = [
    "AmiConnectionLost",
    "AmiError",
    "AmiProtocolError",
    "AmiActionFailed",
    "ConfigError",
    "Conflict",
    "CrmError",
    "CrmTimeout",
    "CrmUnavailable",
    "CtiError",
    "DialRefused",
    "LabError",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "StoreUnavailable",
    "TemplateError",
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
