"""TLS plumbing of the fake Salesforce: a throwaway CA, a threaded HTTPS server, and a client
adapter that sends every Salesforce host name to the fake on loopback.

The adapter changes only where the TCP connection goes: the URL's host still names the server
for SNI, certificate verification (against the throwaway CA) and the Host header, so the
connector and simple-salesforce run exactly as against the real service.
"""

from __future__ import annotations

import atexit
import functools
import os
import ssl
import sys
import tempfile
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests
import trustme

from crm_connectors.salesforce.transport import TimeoutAdapter

__all__ = ["HOSTS", "LoopbackAdapter", "TlsServer", "authority"]

HOSTS = ("login.salesforce.com", "test.salesforce.com", "*.my.salesforce.com", "*.salesforce.com")


@functools.cache
def authority() -> tuple[trustme.CA, trustme.LeafCert, str]:
    """Return the throwaway CA, the certificate for every Salesforce host, and the CA's PEM
    file (made once per test session: key generation is the slow part)."""
    ca = trustme.CA()
    cert = ca.issue_cert(*HOSTS)
    handle, path = tempfile.mkstemp(prefix="fake-salesforce-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as file:
        file.write(ca.cert_pem.bytes())
    atexit.register(os.unlink, path)
    return ca, cert, path


class LoopbackAdapter(TimeoutAdapter):
    """Connect every request to 127.0.0.1:``port``, keeping its host for SNI, certificate
    checks and the Host header (the connector's TimeoutAdapter, so timeouts still apply)."""

    def __init__(self, port: int, timeout: tuple[float, float]) -> None:
        self.port = port
        super().__init__(timeout)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host = host_params["host"]
        pool_kwargs.update(server_hostname=host, assert_hostname=host)
        return {"scheme": "https", "host": "127.0.0.1", "port": self.port}, pool_kwargs

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        request.headers["Host"] = urlsplit(request.url).netloc
        return super().send(request, *args, **kwargs)


class TlsServer(ThreadingHTTPServer):
    """A threaded HTTP server on TLS; ``fake`` is what its handlers serve."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext, fake: Any):
        super().__init__(address, handler)
        self.context = context
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore a client that hung up mid-answer (a timeout test); report anything else."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs on the connection's own thread, not the accepting one.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            tls.close()
