"""The HTTP session the connector hands to simple-salesforce: a timeout on every request.

simple-salesforce passes no timeout to ``requests`` (a request would otherwise wait forever on a
dead connection), so the timeout lives in the transport adapter, where every request, login
included, goes through. The adapter retries nothing itself: the connector's client decides what
to retry (:mod:`crm_connectors.salesforce.failures`).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from crm_connectors.salesforce.settings import SalesforceSettings

__all__ = ["TimeoutAdapter", "new_session"]

Timeout = float | tuple[float | None, float | None] | None


class TimeoutAdapter(HTTPAdapter):
    """An HTTPAdapter giving each request ``timeout`` (connect, read) unless it sets its own.

    Subclass it to change where connections go (tests route Salesforce's host names to a
    local fake) and keep the timeouts.
    """

    def __init__(self, timeout: tuple[float, float], **kwargs: Any) -> None:
        self.timeout = timeout
        kwargs.setdefault("max_retries", 0)
        super().__init__(**kwargs)

    def send(  # noqa: PLR0917 (the signature of HTTPAdapter.send)
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def new_session(settings: SalesforceSettings) -> requests.Session:
    """Return a session for ``settings``: HTTPS only, its timeouts, one pooled connection per
    concurrent request, and its proxy if any (the environment is not consulted)."""
    session = requests.Session()
    session.trust_env = False  # no HTTPS_PROXY or .netrc picked up behind the caller's back
    adapter = TimeoutAdapter(
        (settings.connect_timeout_s, settings.read_timeout_s),
        pool_connections=4,
        pool_maxsize=settings.max_concurrent_requests,
    )
    session.mount("https://", adapter)
    session.mount("http://", _Refused())
    if settings.https_proxy is not None:
        session.proxies = {"https": settings.https_proxy}
    return session


class _Refused(HTTPAdapter):
    """Salesforce is HTTPS only: a plain HTTP URL is a configuration mistake, never sent."""

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        raise requests.exceptions.InvalidURL(f"refusing plain HTTP to {request.url}")
