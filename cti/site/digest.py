"""HTTP digest authentication (RFC 7616, MD5 with ``qop=auth``) for desk phones fetching their
configuration file: the server side, pure (no I/O).

Phones of every vendor in :mod:`cti.site.catalog` speak MD5 digest to their provisioning server;
the product keeps only each device's HA1 (``MD5(mac:realm:secret)``), never its secret. Nonces
are stateless: a timestamp signed with a key of this process, valid ``nonce_ttl_s`` seconds, so a
captured response cannot be replayed once its nonce is stale (a phone asked again answers the
fresh challenge, RFC 7616 section 3.3 ``stale=true``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DigestAnswer", "DigestChecker", "parse_authorization"]

# auth-param = token "=" ( token / quoted-string ), RFC 7235 section 2.1 and RFC 7616 3.4.
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*(?:,|$)')
_MAX_HEADER = 2048


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class DigestAnswer:
    """The fields of a client's ``Authorization: Digest ...`` header that the check needs."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    qop: str | None
    nc: str | None
    cnonce: str | None
    algorithm: str


def parse_authorization(header: str | None) -> DigestAnswer | None:
    """Return the digest answer in an ``Authorization`` header, or None when there is none or
    it is not a well-formed MD5 digest answer (the caller then challenges)."""
    if header is None or len(header) > _MAX_HEADER:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            return None
        quoted = match[2]
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match[3]
        params[match[1].lower()] = value
        position = match.end()
    required = ("username", "realm", "nonce", "uri", "response")
    if not all(params.get(k) for k in required):
        return None
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        return None
    return DigestAnswer(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].lower(),
        qop=params.get("qop"),
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        algorithm="MD5",
    )


class DigestChecker:
    """Issue challenges and check answers for one realm."""

    def __init__(
        self,
        realm: str,
        *,
        nonce_ttl_s: float = 300.0,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.realm = realm
        self._ttl = nonce_ttl_s
        self._key = key or secrets.token_bytes(32)
        self._clock = clock

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def challenge(self, *, stale: bool = False) -> str:
        """A ``WWW-Authenticate`` value with a fresh nonce."""
        stamp = f"{self._clock():.3f}"
        nonce = f"{stamp}-{self._sign(stamp)}"
        extra = ", stale=true" if stale else ""
        return f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, nonce="{nonce}"{extra}'

    def nonce_fresh(self, nonce: str) -> bool:
        """Whether ``nonce`` is one of ours and not older than the nonce lifetime."""
        stamp, _, signature = nonce.partition("-")
        if not hmac.compare_digest(signature, self._sign(stamp)):
            return False
        try:
            issued = float(stamp)
        except ValueError:
            return False
        return 0 <= self._clock() - issued <= self._ttl

    def nonce_ours(self, nonce: str) -> bool:
        stamp, _, signature = nonce.partition("-")
        return hmac.compare_digest(signature, self._sign(stamp))

    def verify(self, answer: DigestAnswer, method: str, ha1: str) -> bool:
        """Whether ``answer`` proves knowledge of the secret behind ``ha1`` (RFC 7616 3.4.1);
        the caller checks the nonce's freshness and that ``uri`` is the requested one."""
        if answer.realm != self.realm:
            return False
        ha2 = _md5(f"{method}:{answer.uri}")
        if answer.qop == "auth":
            if not answer.nc or not answer.cnonce:
                return False
            parts = (ha1, answer.nonce, answer.nc, answer.cnonce, "auth", ha2)
            expected = _md5(":".join(parts))
        elif answer.qop is None:  # RFC 2069 compatibility, which older phones still send
            expected = _md5(f"{ha1}:{answer.nonce}:{ha2}")
        else:
            return False
        return hmac.compare_digest(expected, answer.response)
