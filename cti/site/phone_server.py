"""Serve desk phones their configuration file (issue 16, part 3), only to the device it is for.

A phone boots, asks ``/provisioning/<file>`` (the name its vendor uses, :mod:`cti.site.catalog`)
and proves it is the device by HTTP digest (username: its MAC; secret: the provisioning secret
shown once when the device was added; only its HA1 is stored), or asks
``/provisioning/s/<secret>/<file>`` where the secret path itself is the proof (for phones that
cannot do digest). The file carries the device's SIP account in the clear, so:

* a wrong secret, an unknown MAC, or another device's file is refused: 401 with a fresh challenge
  for digest, 404 for a secret path and for another device's file (a device learns nothing of
  the others);
* each client address may fetch ``fetches_per_minute`` files; each MAC may fail
  ``failures_per_hour`` times before its file is refused for the rest of the hour (429);
* every fetch is audited, served and refused alike (``site.phone_file_served`` /
  ``site.phone_file_refused`` with the reason, ``replayed`` for a digest answer used before);
  a bare request without credentials, the first leg of every digest exchange, is challenged
  and counted per address and minute: one ``site.phone_file_challenged`` row per address per
  minute at most, saying how many more came since that address's previous row (a scanner
  hammering the path cannot flood the audit log);
* with ``https_only`` a request that did not come over HTTPS is refused (403) before anything.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cti.config import ProvisioningSettings
from cti.errors import AuthenticationRequired, CtiError, NotFound, PermissionDenied, RateLimited
from cti.secretbox import SecretBox
from cti.site import records
from cti.site.catalog import model_for, parse_file_name
from cti.site.digest import DigestChecker, parse_authorization
from cti.site.phone_files import PhoneAccount, Transport, render_phone_file
from cti.site.service import AuditSink, provision_ha1
from cti.store import Store

__all__ = [
    "FetchRequest",
    "PhoneFileServer",
    "PhoneServerSettings",
    "ProvisioningChallenge",
    "ServedFile",
    "WindowCounter",
]


class ProvisioningChallenge(AuthenticationRequired):
    """401: prove you are the device; ``challenge`` is the ``WWW-Authenticate`` to send."""

    error_id = "provisioning.unauthenticated"

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


class HttpsRequired(PermissionDenied):
    error_id = "provisioning.https_required"


class NotConfigured(CtiError):
    error_id = "provisioning.not_configured"
    status = 503


@dataclass(frozen=True, slots=True)
class PhoneServerSettings:
    """Where the served files point phones, and how fetches are limited."""

    sip_host: str | None  # None: no file is served
    sip_port: int = 5060
    transport: Transport = "udp"
    https_only: bool = False
    fetches_per_minute: int = 30
    failures_per_hour: int = 10

    @classmethod
    def from_settings(cls, settings: ProvisioningSettings) -> PhoneServerSettings:
        return cls(
            sip_host=settings.phone_sip_host,
            sip_port=settings.phone_sip_port,
            transport=settings.phone_sip_transport,
            https_only=settings.phone_https_only,
            fetches_per_minute=settings.phone_fetches_per_minute,
            failures_per_hour=settings.phone_failures_per_hour,
        )


@dataclass(frozen=True, slots=True)
class FetchRequest:
    file_name: str
    uri: str  # the request target as sent (path and query), which a digest answer names
    client: str
    https: bool
    authorization: str | None = None
    path_secret: str | None = None
    method: str = "GET"


@dataclass(frozen=True, slots=True)
class ServedFile:
    body: str
    media_type: str


class WindowCounter:
    """At most ``limit`` hits per key in any ``window_s`` seconds (kept in this process)."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float], max_keys: int = 50_000
    ) -> None:
        self._limit, self._window, self._clock, self._max_keys = limit, window_s, clock, max_keys
        self._hits: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = self._clock()
        hits = [t for t in self._hits.get(key, ()) if t > now - self._window]
        if hits:
            self._hits[key] = hits
        else:
            self._hits.pop(key, None)
        return hits

    def full(self, key: str) -> bool:
        return len(self._recent(key)) >= self._limit

    def hit(self, key: str) -> None:
        if len(self._hits) >= self._max_keys and key not in self._hits:
            self._hits.clear()  # a flood of addresses: start over rather than grow
        self._hits.setdefault(key, []).append(self._clock())


class ChallengeLog:
    """Bare challenges per client address: whether to audit this one (the first of the
    address's minute) and how many went unaudited before it; bounded like :class:`WindowCounter`."""

    def __init__(
        self, clock: Callable[[], float], window_s: float = 60.0, max_keys: int = 50_000
    ) -> None:
        self._clock, self._window, self._max_keys = clock, window_s, max_keys
        self._windows: dict[str, tuple[float, int]] = {}  # client -> window start, unaudited

    def challenged(self, client: str) -> int | None:
        """Count a bare challenge to ``client``: None when it is not to be audited, else the
        number of challenges since the previous row (not audited, so not yet told)."""
        now = self._clock()
        start, unaudited = self._windows.get(client, (float("-inf"), 0))
        if now - start < self._window:
            self._windows[client] = (start, unaudited + 1)
            return None
        if len(self._windows) >= self._max_keys and client not in self._windows:
            self._windows = {c: w for c, w in self._windows.items() if now - w[0] < self._window}
            if len(self._windows) >= self._max_keys:
                self._windows.clear()  # a flood of addresses: start over rather than grow
        self._windows[client] = (now, 0)
        return unaudited


class PhoneFileServer:
    """Check who asks for a phone's file, and render it."""

    def __init__(
        self,
        store: Store,
        secrets_box: SecretBox,
        audit: AuditSink,
        settings: PhoneServerSettings,
        *,
        provision_realm: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._box = secrets_box
        self._audit = audit
        self._settings = settings
        self._realm = provision_realm
        self._digest = DigestChecker(provision_realm)
        self._fetches = WindowCounter(settings.fetches_per_minute, 60.0, clock)
        self._failures = WindowCounter(settings.failures_per_hour, 3600.0, clock)
        self._challenges = ChallengeLog(clock)

    def _refuse(self, request: FetchRequest, reason: str, error: CtiError, **more: Any) -> CtiError:
        details = {"file": request.file_name[:64], "client": request.client, "reason": reason}
        self._audit("site.phone_file_refused", {**details, **more}, None)
        return error

    async def fetch(self, request: FetchRequest) -> ServedFile:
        """Return the file ``request`` asks for, or raise why not (audited)."""
        if self._fetches.full(request.client):
            raise self._refuse(request, "rate_limited", RateLimited(
                "too many configuration requests from this address",
                details={"retry_after_s": 60},
            ))  # fmt: skip
        self._fetches.hit(request.client)
        if self._settings.https_only and not request.https:
            raise self._refuse(request, "not_https", HttpsRequired("use HTTPS"))
        if self._settings.sip_host is None:
            raise NotConfigured("phone provisioning is not configured ([provisioning])")
        named = parse_file_name(request.file_name)
        if named is None:
            raise self._refuse(request, "unknown_file", NotFound("no such file"))
        mac, models = named
        if self._failures.full(mac):
            raise self._refuse(request, "too_many_failures", RateLimited(
                "too many failed requests for this device; try again later",
                details={"retry_after_s": 3600},
            ), mac=mac)  # fmt: skip
        device = await self._authenticated(request, mac)
        if device.model not in models:
            raise self._refuse(request, "not_this_model", NotFound("no such file"), mac=mac)
        served = self._render(device)
        via = "path" if request.path_secret is not None else "digest"
        details = {"mac": mac, "file": request.file_name, "client": request.client, "via": via}
        self._audit("site.phone_file_served", details, None)
        return served

    async def _authenticated(self, request: FetchRequest, mac: str) -> records.DeviceRow:
        """The device the request proves it is, which must be the one the file is for."""
        store = self._store
        if request.path_secret is not None:
            device = await store.aio.run(records.find_device, store, mac)
            expected = provision_ha1(mac, self._realm, request.path_secret)
            if device is None or not hmac.compare_digest(device.provision_ha1, expected):
                self._failures.hit(mac)
                raise self._refuse(request, "bad_secret", NotFound("no such file"), mac=mac)
            return device
        answer = parse_authorization(request.authorization)
        if answer is None:
            earlier = self._challenges.challenged(request.client)
            if earlier is not None:
                details = {"file": request.file_name[:64], "client": request.client, "mac": mac}
                self._audit("site.phone_file_challenged", {**details, "earlier": earlier}, None)
            raise ProvisioningChallenge("authenticate as the device", self._digest.challenge())
        if not self._digest.nonce_fresh(answer.nonce) or answer.uri != request.uri:
            stale = self._digest.nonce_ours(answer.nonce)
            raise ProvisioningChallenge("authenticate again", self._digest.challenge(stale=stale))
        claimed = answer.username.lower()[:12]
        device = await store.aio.run(records.find_device, store, claimed)
        if device is None or not self._digest.verify(answer, request.method, device.provision_ha1):
            self._failures.hit(mac)
            error = ProvisioningChallenge("wrong device credentials", self._digest.challenge())
            raise self._refuse(request, "bad_credentials", error, mac=mac, user=claimed)
        if not self._digest.count_fresh(answer):  # a captured answer sent again
            error = ProvisioningChallenge("authenticate again", self._digest.challenge(stale=True))
            raise self._refuse(request, "replayed", error, mac=mac, user=claimed)
        if device.mac != mac:
            raise self._refuse(
                request, "other_device", NotFound("no such file"), mac=mac, user=device.mac
            )
        return device

    def _render(self, device: records.DeviceRow) -> ServedFile:
        model = model_for(device.model)
        assert model is not None
        assert self._settings.sip_host is not None
        account = PhoneAccount(
            mac=device.mac,
            model=f"{model.vendor} {model.name}",
            username=device.username,
            display_name=device.display_name or device.username,
            label=device.extension or device.username,
            sip_user=device.endpoint,
            auth_user=device.endpoint,
            password=self._box.open(device.sip_secret),
            server_host=self._settings.sip_host,
            server_port=self._settings.sip_port,
            transport=self._settings.transport,
        )
        return ServedFile(render_phone_file(model, account), model.media_type)
