"""The HTTP session the connector hands to simple-salesforce: a timeout on every request.

simple-salesforce passes no timeout to ``requests`` (a request would otherwise wait forever on a
dead connection), so the timeout lives in the transport adapter, where every request, login
included, goes through. The adapter retries nothing itself: the connector's client decides what
to retry (:mod:`crm_connectors.salesforce.failures`).

Two settings change where TLS trust and connections come from, for diagnostics and tests only:
``ca_bundle`` (the CAs to trust) and ``connect_to`` (curl's ``--connect-to``: the TCP connection
goes to a loopback address while the URL, SNI, certificate check and Host header keep
Salesforce's host name, so simple-salesforce and TLS verification run exactly as in production).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from crm_connectors.salesforce.settings import ConnectTo, SalesforceSettings
from cti.errors import ConfigError

__all__ = ["ConnectToAdapter", "TimeoutAdapter", "new_session"]

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


class ConnectToAdapter(TimeoutAdapter):
    """A TimeoutAdapter that connects to another address when a :class:`ConnectTo` rule
    applies, keeping the URL's host for SNI, the certificate check and the Host header."""

    def __init__(
        self, timeout: tuple[float, float], rules: tuple[ConnectTo, ...], **kwargs: Any
    ) -> None:
        self.rules = rules
        super().__init__(timeout, **kwargs)

    def rule_for(self, url: str | None) -> ConnectTo | None:
        """Return the first rule applying to ``url``'s host and port, if any."""
        parts = urlsplit(url or "")
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return next((rule for rule in self.rules if rule.applies_to(host, port)), None)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        rule = self.rule_for(request.url)
        if rule is None:
            return host_params, pool_kwargs
        host = host_params["host"]
        pool_kwargs.update(server_hostname=host, assert_hostname=host)
        return {**host_params, "host": rule.to_host, "port": rule.to_port}, pool_kwargs

    def send(  # noqa: PLR0917 (the signature of HTTPAdapter.send)
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        if self.rule_for(request.url) is not None:
            # http.client would name the address connected to; Salesforce routes by this name.
            request.headers["Host"] = urlsplit(request.url or "").netloc
        return super().send(request, stream, timeout, verify, cert, proxies)


def new_session(settings: SalesforceSettings) -> requests.Session:
    """Return a session for ``settings``: HTTPS only, its timeouts, one pooled connection per
    concurrent request, its proxy if any (the environment is not consulted), its CA bundle
    and connect_to rules if any. Raises ConfigError when the CA bundle is not a file."""
    session = requests.Session()
    session.trust_env = False  # no HTTPS_PROXY or .netrc picked up behind the caller's back
    timeout = (settings.connect_timeout_s, settings.read_timeout_s)
    pool: dict[str, Any] = {"pool_connections": 4, "pool_maxsize": settings.max_concurrent_requests}
    rules = settings.connect_rules
    adapter = ConnectToAdapter(timeout, rules, **pool) if rules else TimeoutAdapter(timeout, **pool)
    session.mount("https://", adapter)
    if settings.ca_bundle is not None:
        if not Path(settings.ca_bundle).is_file():
            raise ConfigError(
                "ca_bundle is not a readable file", details={"ca_bundle": settings.ca_bundle}
            )
        session.verify = settings.ca_bundle
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
