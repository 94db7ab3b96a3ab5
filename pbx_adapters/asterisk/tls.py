"""The one place an AMI link's TLS settings become an :class:`ssl.SSLContext`.

Asterisk offers AMI over TLS on its own port (manager.conf ``tlsenable``, ``tlsbindaddr``,
``tlscertfile``). Both kinds of server the daemon knows, those of the configuration file
(``[[servers]]``) and those an admin adds in the console, are turned into a context here, so they
verify alike: against the system's trust store, or the CA certificate file given, with the host
name checked; ``verify = false`` encrypts without knowing who answers (a lab, never production).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cti.errors import ConfigError

__all__ = ["AmiTls", "tls_failure"]


@dataclass(frozen=True, slots=True)
class AmiTls:
    """How an AMI link speaks TLS: off, or on with a CA file (None: the system's) and checks."""

    enabled: bool = False
    ca_file: Path | None = None
    verify: bool = True

    def context(self) -> ssl.SSLContext | None:
        """Return the client context, or None for plain TCP; raise ConfigError on a bad CA file.

        The CA file is read now, so a wrong path or a file without a certificate is said when the
        settings are loaded, not as a connection error much later.
        """
        if not self.enabled:
            return None
        if not self.verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if self.ca_file is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:  # missing/unreadable, or no PEM certificate in it
            raise ConfigError(
                f"the AMI CA file {self.ca_file} cannot be used: {_reason(exc)}",
                details={"ca_file": str(self.ca_file)},
            ) from exc


def tls_failure(exc: BaseException) -> str | None:
    """Say why a TLS handshake failed in words an admin can act on; None if it was not TLS."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"its TLS certificate is not trusted ({exc.verify_message}): check the server's "
            "ca_file (the CA that signed Asterisk's tlscertfile) and that the host name is "
            "one the certificate names"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"the TLS handshake failed ({exc.reason or exc}): is this port Asterisk's "
            "tlsbindaddr (manager.conf), not its plain AMI port?"
        )
    return None


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"no PEM certificate could be read from it ({exc.reason or exc})"
    return exc.strerror or str(exc)
