"""Which Salesforce failures are worth another try, and what each becomes in :mod:`cti.errors`.

The boundary where simple-salesforce and requests exceptions stop: :func:`translate` turns each
into a CrmError subclass (``raise ... from exc`` keeps the original for the log). Error bodies
are those of the REST API Developer Guide ("Status Codes and Error Responses": a JSON list of
``{"message", "errorCode", "fields"}``) and of the SOAP API ``login()`` call (a ``LoginFault``
with ``exceptionCode``/``exceptionMessage``), or the OAuth token endpoint's
``{"error", "error_description"}``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import requests
from requests.exceptions import ChunkedEncodingError
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from cti.errors import (
    CrmAccountLocked,
    CrmAuthFailed,
    CrmError,
    CrmSessionExpired,
    CrmTimeout,
    CrmUnavailable,
    CtiError,
    NotFound,
    ValidationFailed,
)

__all__ = ["Backoff", "error_code", "is_transient", "login_failure", "translate"]

# 503: "the server is unavailable to handle the request" (maintenance, overload); 502/504 come
# from the proxies in front of it. 403 REQUEST_LIMIT_EXCEEDED: the org's API request limit or
# concurrent long-running request limit.
_TRANSIENT_STATUS = frozenset({502, 503, 504})
_RATE_LIMITED = "REQUEST_LIMIT_EXCEEDED"
# 400 errorCodes that mean "Salesforce refuses this value", not "the connector is broken".
_REFUSED_VALUES = frozenset(
    {
        "DUPLICATES_DETECTED",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "FIELD_INTEGRITY_EXCEPTION",
        "INVALID_EMAIL_ADDRESS",
        "REQUIRED_FIELD_MISSING",
        "STRING_TOO_LONG",
    }
)
_LOCKED_OUT = frozenset({"PASSWORD_LOCKOUT"})
_LOGIN_HINTS = {
    "INVALID_LOGIN": (
        "Salesforce rejected the username, password or security token (it gives the same answer "
        "for a locked-out user: check the user's Login History)"
    ),
    "LOGIN_MUST_USE_SECURITY_TOKEN": (
        "Salesforce wants the user's security token appended to the password (or the "
        "connector's IP address in the profile's Login IP Ranges)"
    ),
    "API_DISABLED_FOR_ORG": "the org or the user does not have the API Enabled permission",
    "API_CURRENTLY_DISABLED": "the org or the user does not have the API Enabled permission",
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": "the integration user's password has expired",
    "invalid_grant": "Salesforce refused the JWT bearer token (user, consumer key or certificate)",
    "invalid_client_id": "Salesforce does not know the connected app's consumer key",
}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter (a random delay up to the capped step)."""

    base_s: float
    cap_s: float
    rand: Callable[[], float] = random.random

    def delay(self, retry: int) -> float:
        """Return how long to wait before retry number ``retry`` (1 for the first)."""
        jitter: float = self.rand()
        return jitter * min(self.cap_s, self.base_s * 2.0 ** (retry - 1))


def error_code(exc: SalesforceError) -> str | None:
    """Return the first ``errorCode`` of a REST error body, if it has one."""
    code = _first_error(exc).get("errorCode")
    return code if isinstance(code, str) else None


def _first_error(exc: SalesforceError) -> dict[str, object]:
    # simple-salesforce stores the decoded JSON body in ``content`` (typed bytes, it is not).
    content: object = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0]
    return {}


def is_transient(exc: BaseException, *, idempotent: bool) -> bool:
    """Return whether another attempt may succeed where ``exc`` failed.

    A request that is not idempotent (a create) is retried only when Salesforce cannot have
    acted on it: a 503, a request-limit refusal, or a connection that never opened.
    """
    if isinstance(exc, SalesforceAuthenticationFailed):
        # A refusal names itself (a SOAP LoginFault's exceptionCode, OAuth's "error"). An answer
        # without a code is not Salesforce judging the credentials: a maintenance or proxy page
        # (simple-salesforce gives its HTTP status as the code only when the page is not XML).
        return exc.code is None or (isinstance(exc.code, int) and exc.code in _TRANSIENT_STATUS)
    if isinstance(exc, SalesforceError):
        if error_code(exc) == _RATE_LIMITED:
            return True
        return exc.status in _TRANSIENT_STATUS and (idempotent or exc.status == 503)
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate that does not verify will not verify next time either
    broken = isinstance(exc, requests.Timeout | requests.ConnectionError | ChunkedEncodingError)
    return isinstance(exc, requests.ConnectTimeout) or (broken and idempotent)


# REST failures in order of precedence: (matches, error class, message).
_Rule = tuple[Callable[[SalesforceError, str | None], bool], type[CtiError], str]
_REST_RULES: tuple[_Rule, ...] = (
    (
        lambda exc, code: code == _RATE_LIMITED,
        CrmUnavailable,
        "Salesforce's API request limit is exceeded",
    ),
    (
        lambda exc, code: exc.status in _TRANSIENT_STATUS,
        CrmUnavailable,
        "Salesforce is unavailable",
    ),
    (
        lambda exc, code: isinstance(exc, SalesforceExpiredSession),
        CrmSessionExpired,
        "the Salesforce session is not valid",
    ),
    (
        lambda exc, code: isinstance(exc, SalesforceResourceNotFound),
        NotFound,
        "no such Salesforce record",
    ),
    (
        lambda exc, code: isinstance(exc, SalesforceMalformedRequest) and code in _REFUSED_VALUES,
        ValidationFailed,
        "Salesforce refused a value",
    ),
    (
        lambda exc, code: isinstance(exc, SalesforceRefusedRequest),
        CrmError,
        "Salesforce refused the request: check the integration user's permissions",
    ),
    (
        lambda exc, code: isinstance(exc, SalesforceMoreThanOneRecord),
        CrmError,
        "more than one Salesforce record has this external id",
    ),
)


def translate(exc: BaseException, *, operation: str, attempts: int) -> CtiError:
    """Return the product error for a failure of ``operation`` after ``attempts`` tries."""
    details: dict[str, object] = {"operation": operation, "attempts": attempts}
    if isinstance(exc, SalesforceAuthenticationFailed):  # a login that stayed unavailable
        details.update(code=str(exc.code))
        return CrmUnavailable("Salesforce's login service is unavailable", details=details)
    if isinstance(exc, SalesforceError):
        code = error_code(exc)
        message = str(_first_error(exc).get("message", ""))[:500]
        details.update(status=exc.status, error_code=code, salesforce_message=message)
        for matches, error, text in _REST_RULES:
            if matches(exc, code):
                return error(text, details=details)
        return CrmError(f"Salesforce answered HTTP {exc.status} ({code})", details=details)
    return _transport_error(exc, details)


def _transport_error(exc: BaseException, details: dict[str, object]) -> CtiError:
    if isinstance(exc, requests.exceptions.SSLError):
        return CrmError("the TLS connection to Salesforce failed to verify", details=details)
    if isinstance(exc, requests.Timeout):
        return CrmTimeout("Salesforce did not answer in time", details=details)
    if isinstance(exc, requests.ConnectionError | ChunkedEncodingError):
        return CrmUnavailable(f"cannot reach Salesforce: {type(exc).__name__}", details=details)
    return CrmError(f"Salesforce request failed: {type(exc).__name__}", details=details)


def login_failure(
    exc: SalesforceAuthenticationFailed, *, username: str | None, domain: str
) -> CrmError:
    """Return the product error for a refused login, with what an administrator should check."""
    code = str(exc.code)
    text = exc.auth_message[:300]
    details: dict[str, object] = {
        "username": username,
        "domain": domain,
        "code": code,
        "salesforce_message": text,
    }
    if code in _LOCKED_OUT or ("locked" in text.lower() and code != "INVALID_LOGIN"):
        return CrmAccountLocked(
            "Salesforce has locked the integration user out; unlock it in Setup > Users",
            details=details,
        )
    hint = _LOGIN_HINTS.get(code, f"Salesforce refused the login ({code})")
    return CrmAuthFailed(f"Salesforce login failed: {hint}", details=details)
