"""HTTP digest authentication (RFC 7616, MD5 with ``qop=auth``) for desk phones fetching their
configuration file: the server side, pure (no I/O).

Phones of every vendor in :mod:`cti.site.catalog` speak MD5 digest to their provisioning server;
the product keeps only each device's HA1 (``MD5(mac:realm:secret)``), never its secret. Nonces
are a timestamp signed with a key of this process, valid ``nonce_ttl_s`` seconds (a phone asked
again answers the fresh challenge, RFC 7616 section 3.3 ``stale=true``). Within that time a
captured answer cannot be replayed either: :class:`NonceCounts` keeps, per nonce used, the
highest nonce count (``nc``) accepted, and an answer must count higher (RFC 7616 3.4: the client
counts each request it sends with a nonce). An RFC 2069 answer, which has no count, may use its
nonce once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DigestAnswer", "DigestChecker", "NonceCounts", "parse_authorization"]

# auth-param = token "=" ( token / quoted-string ), RFC 7235 section 2.1 and RFC 7616 3.4.
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*(?:,|$)')
_MAX_HEADER = 2048
_NC = re.compile(r"[0-9a-fA-F]{8}")  # nc-value = 8LHEX (RFC 7616 3.4)


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


class NonceCounts:
    """The highest nonce count accepted for each nonce in use, in bounded memory.

    A nonce is forgotten once older than the nonce lifetime (it is stale then anyway). When
    ``max_nonces`` are in use the longest-known one is dropped and :attr:`floor` rises to its
    issue time: every nonce issued until then counts as stale from now on, so a forgotten nonce
    can never be answered again (its phone is asked to authenticate afresh).
    """

    def __init__(self, ttl_s: float, max_nonces: int = 10_000) -> None:
        self._ttl, self._max = ttl_s, max_nonces
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()  # nonce -> issued, nc
        self.floor = float("-inf")

    def __len__(self) -> int:
        return len(self._counts)

    def accept(self, nonce: str, issued: float, count: int, now: float) -> bool:
        """Take ``count`` for ``nonce`` if it is higher than any before; False: a replay."""
        self._expire(now)
        if issued <= self.floor:
            return False
        _, last = self._counts.get(nonce, (issued, 0))
        if count <= last:
            return False
        self._counts[nonce] = (issued, count)
        while len(self._counts) > self._max:
            _, (dropped, _) = self._counts.popitem(last=False)
            self.floor = max(self.floor, dropped)
        return True

    def _expire(self, now: float) -> None:
        while self._counts:
            issued, _ = next(iter(self._counts.values()))
            if now - issued <= self._ttl:
                return
            self._counts.popitem(last=False)


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
        self._counts = NonceCounts(nonce_ttl_s)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def challenge(self, *, stale: bool = False) -> str:
        """A ``WWW-Authenticate`` value with a fresh nonce."""
        # Time of issue, then a random part: two challenges in one millisecond (two phones)
        # get nonces of their own, so each nonce's counts are one client's.
        body = f"{self._clock():.3f}.{secrets.token_hex(6)}"
        nonce = f"{body}-{self._sign(body)}"
        extra = ", stale=true" if stale else ""
        return f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, nonce="{nonce}"{extra}'

    def _issued(self, nonce: str) -> float | None:
        """When ``nonce`` was issued, if it is one of ours (signed with this process's key)."""
        body, _, signature = nonce.partition("-")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        stamp = body.rpartition(".")[0]
        try:
            return float(stamp)
        except ValueError:
            return None

    def nonce_fresh(self, nonce: str) -> bool:
        """Whether ``nonce`` is one of ours and not older than the nonce lifetime (nor than
        the nonces :class:`NonceCounts` had to forget)."""
        issued = self._issued(nonce)
        if issued is None:
            return False
        return 0 <= self._clock() - issued <= self._ttl and issued > self._counts.floor

    def nonce_ours(self, nonce: str) -> bool:
        return self._issued(nonce) is not None

    def count_fresh(self, answer: DigestAnswer) -> bool:
        """Record the nonce count of a verified ``answer``; False if it was used before (a
        replay, or a count not above the last one on that nonce). Call after :meth:`verify`,
        so a forged answer cannot use up a phone's counts."""
        if answer.qop is None:
            count = 1  # RFC 2069: no count, so the nonce serves one request
        elif answer.nc is not None and _NC.fullmatch(answer.nc):
            count = int(answer.nc, 16)
        else:
            return False
        issued = self._issued(answer.nonce)
        if issued is None:
            return False
        return self._counts.accept(answer.nonce, issued, count, self._clock())

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
