"""One org's requests, run from worker threads: login, session renewal, retries, a request cap.

simple-salesforce is synchronous; the connector calls :meth:`SalesforceClient.call` on its
thread pool, never on the event loop. Each call runs one unit of work (usually one request)
against a logged-in :class:`simple_salesforce.Salesforce` and:

- logs in on first use, one thread at a time, with the configured credentials
  (``login()`` over SOAP, or the OAuth 2.0 JWT bearer flow), or wraps the given session id;
- on 401 ``INVALID_SESSION_ID`` logs in again once and repeats the unit once; a second
  rejection in a row (or a configured session id, which cannot be renewed) raises
  CrmSessionExpired and is logged as an error. simple-salesforce's own renewal is not used:
  it renews up to three times, and unboundedly for SObject calls;
- retries transient failures (503, ``REQUEST_LIMIT_EXCEEDED``, timeouts, resets) up to
  ``max_attempts`` with capped exponential backoff and jitter, then raises CrmUnavailable or
  CrmTimeout: the call-record outbox retries later, so nothing here retries forever;
- holds one of ``max_concurrent_requests`` slots (a semaphore) while a unit talks to
  Salesforce, so the org never sees more concurrent requests than that, logins included;
- stops between attempts once ``cancel`` is set (its caller gave up): no further request
  starts and no backoff keeps the thread. A request already on the wire ends within the
  adapter's timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar
from xml.parsers.expat import ExpatError

import jwt
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)
from simple_salesforce.login import SalesforceLogin

from crm_connectors.salesforce.failures import (
    Backoff,
    is_transient,
    login_failure,
    translate,
)
from crm_connectors.salesforce.settings import (
    JwtAuth,
    PasswordAuth,
    SalesforceSettings,
    SessionAuth,
)
from cti.errors import CrmAuthFailed, CrmError, CrmSessionExpired, CrmUnavailable

__all__ = ["SalesforceClient"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_CLIENT_ID = "cti"  # shown as the client in the org's login history
_RETRYABLE = (SalesforceError, requests.RequestException)


class Abandoned(CrmUnavailable):
    """The caller stopped waiting (cancelled or timed out); nobody reads this error."""

    error_id = "crm.abandoned"


class SalesforceClient:
    """Runs units of work against one org from worker threads (see the module docstring)."""

    def __init__(
        self,
        settings: SalesforceSettings,
        session: requests.Session,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._session = session
        self._backoff = backoff or Backoff(settings.backoff_base_s, settings.backoff_cap_s)
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_requests)
        self._login_lock = threading.Lock()
        self._api: Salesforce | None = None
        self.logins = 0  # how many times this client logged in (tests, metrics)

    @property
    def instance_url(self) -> str:
        """Return the org's base URL (``https://acme.my.salesforce.com``) once logged in."""
        api = self._api
        return "" if api is None else f"https://{api.sf_instance}"

    def call(
        self,
        operation: str,
        unit: Callable[[Salesforce], T],
        *,
        cancel: threading.Event,
        idempotent: bool = True,
    ) -> T:
        """Run ``unit`` against the org with login, one renewal, retries and a request slot.

        ``idempotent`` False (a create) retries only failures Salesforce cannot have acted on.
        Raises a CrmError subclass; no simple-salesforce or requests exception escapes.
        """
        attempt, renewed = 0, False
        while True:
            attempt += 1
            api = None
            try:
                with self._slots:
                    _check(cancel)
                    api = self._connected()
                    return unit(api)
            except SalesforceExpiredSession as exc:
                if renewed or isinstance(self._settings.auth, SessionAuth):
                    raise self._expired(operation, renewed) from exc
                log.info("Salesforce session expired during %s; logging in again", operation)
                renewed, attempt = True, attempt - 1  # a renewal is not a retry
                self._discard(api)
            except SalesforceAuthenticationFailed as exc:
                if not is_transient(exc, idempotent=True):
                    raise self._refused(exc) from exc
                self._pause(operation, exc, attempt, cancel)
            except _RETRYABLE as exc:
                if not is_transient(exc, idempotent=idempotent):
                    raise translate(exc, operation=operation, attempts=attempt) from exc
                self._pause(operation, exc, attempt, cancel)

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        self._session.close()

    def _pause(
        self, operation: str, exc: BaseException, attempt: int, cancel: threading.Event
    ) -> None:
        """Wait before the next attempt, or raise when the attempts are spent."""
        if attempt >= self._settings.max_attempts:
            log.warning("Salesforce %s failed %d times: %s", operation, attempt, _brief(exc))
            raise translate(exc, operation=operation, attempts=attempt) from exc
        delay = self._backoff.delay(attempt)
        log.info("Salesforce %s failed (%s); retry in %.2f s", operation, _brief(exc), delay)
        if cancel.wait(delay):
            raise Abandoned("the caller gave up", details={"operation": operation}) from exc

    def _connected(self) -> Salesforce:
        with self._login_lock:
            if self._api is None:
                self._api = self._login()
                self.logins += 1
            return self._api

    def _discard(self, stale: Salesforce | None) -> None:
        with self._login_lock:
            if self._api is stale:
                self._api = None

    def _login(self) -> Salesforce:
        settings, auth = self._settings, self._settings.auth
        if isinstance(auth, SessionAuth):
            return Salesforce(
                session_id=auth.session_id.reveal(),
                instance_url=auth.instance_url,
                version=settings.api_version,
                session=self._session,
            )
        try:
            session_id, instance = self._login_request(auth)
        except ExpatError as exc:
            raise CrmError("Salesforce's login answer is not readable XML") from exc
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            if isinstance(exc, requests.RequestException):
                raise
            raise CrmAuthFailed(
                f"cannot sign the JWT login: {type(exc).__name__} (check the private key)",
                details={"username": auth.username},
            ) from exc
        log.info("logged in to Salesforce as %s (%s)", auth.username, instance)
        return Salesforce(
            session_id=session_id,
            instance=instance,
            version=settings.api_version,
            session=self._session,
        )

    def _login_request(self, auth: PasswordAuth | JwtAuth) -> tuple[str, str]:
        settings = self._settings
        if isinstance(auth, PasswordAuth):
            token = auth.security_token
            session_id, instance = SalesforceLogin(
                username=auth.username,
                password=auth.password.reveal(),
                security_token=None if token is None else token.reveal(),
                sf_version=settings.api_version,
                session=self._session,
                client_id=_CLIENT_ID,
                domain=settings.domain,
            )
        else:
            key = auth.private_key
            session_id, instance = SalesforceLogin(
                username=auth.username,
                consumer_key=auth.consumer_key,
                privatekey_file=None
                if auth.private_key_file is None
                else str(auth.private_key_file),
                privatekey=None if key is None else key.reveal(),
                sf_version=settings.api_version,
                session=self._session,
                domain=settings.domain,
            )
        return str(session_id), str(instance)

    def _refused(self, exc: SalesforceAuthenticationFailed) -> CrmError:
        auth = self._settings.auth
        username = None if isinstance(auth, SessionAuth) else auth.username
        error = login_failure(exc, username=username, domain=self._settings.domain)
        log.error("%s %s", error.message, error.details)
        return error

    def _expired(self, operation: str, renewed: bool) -> CrmSessionExpired:
        if renewed:
            message = (
                "Salesforce rejected the session right after a fresh login (INVALID_SESSION_ID "
                "twice in a row): check the connected app's session policy and the org's "
                "session IP restrictions"
            )
        else:
            message = (
                "the configured Salesforce session id has expired or was revoked, and a "
                "session id cannot be renewed: configure a new one, or password or JWT login"
            )
        error = CrmSessionExpired(message, details={"operation": operation})
        log.error("%s", message)
        return error


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Abandoned("the caller gave up before the request started")


def _brief(exc: BaseException) -> str:
    if isinstance(exc, SalesforceAuthenticationFailed):
        return f"login {exc.code or 'answered with an error page'}"
    if isinstance(exc, SalesforceError):
        return f"HTTP {exc.status}"
    return type(exc).__name__
