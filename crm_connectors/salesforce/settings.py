"""The Salesforce connector's settings: one frozen value the composition root builds and passes in.

Nothing here reads the environment or a file on its own: :func:`secret_from` takes the
environment mapping it reads from as an argument, and the caller decides where secrets live.
Secrets are :class:`Secret` values whose ``repr`` and ``str`` hide them, so a settings object
can be logged or shown in a traceback without leaking a password, token, session id or key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cti.errors import ConfigError
from cti.numbers import is_known_region

__all__ = [
    "Auth",
    "ConnectTo",
    "JwtAuth",
    "PasswordAuth",
    "SalesforceSettings",
    "Secret",
    "SessionAuth",
    "secret_from",
]

_API_VERSION = re.compile(r"[1-9][0-9]{1,2}\.0")
# "login", "test", a My Domain prefix ("acme.my", "acme--uat.sandbox.my"): simple-salesforce
# appends ".salesforce.com" itself.
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63}){0,4}")
# API names of standard and custom fields and objects; they are written into SOQL and SOSL.
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_USER_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")
_LOOKUP_OBJECTS = ("Contact", "Lead", "Account")
# curl's --connect-to: HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT; an empty HOST or PORT is any.
_CONNECT_TO = re.compile(
    r"(?P<host>[A-Za-z0-9.-]*):(?P<port>[0-9]*):(?P<to_host>[^:]+|\[::1\]):(?P<to_port>[0-9]+)"
)


class Secret:
    """A credential: ``reveal()`` gives the value, ``repr`` and ``str`` never do."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ConfigError("a secret cannot be empty")
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, only to hand it to the library that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret_from(
    env_name: str | None = None,
    file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Secret:
    """Return a secret from the variable ``env_name`` of ``environ``, else from ``file``.

    The environment is passed in (the composition root gives ``os.environ``), never read here.
    A file's trailing newline is dropped (``echo secret > file`` is the usual way to write one).
    Raises ConfigError naming the variable and the file when neither holds a value.
    """
    if env_name is None and file is None:
        raise ConfigError("say where the secret is: an environment variable or a file")
    if env_name is not None:
        if environ is None:
            raise ConfigError(
                "pass the environment to read a secret from", details={"env": env_name}
            )
        value = environ.get(env_name, "")
        if value:
            return Secret(value)
    if file is not None:
        path = Path(file)
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the secret file {path}: {exc.strerror}",
                details={"file": str(path), "env": env_name},
            ) from exc
        if value:
            return Secret(value)
    raise ConfigError(
        "the secret is not set",
        details={"env": env_name, "file": None if file is None else str(file)},
    )


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """Username, password and security token (SOAP ``login()``).

    ``security_token`` may be None when the org trusts the connector's IP address (Login IP
    Ranges on the profile); Salesforce then accepts the password alone.
    """

    username: str
    password: Secret
    security_token: Secret | None = None


@dataclass(frozen=True, slots=True)
class JwtAuth:
    """OAuth 2.0 JWT bearer flow: a connected app's consumer key and its certificate's key.

    Give the private key as a PEM file (read at each login, so a rotated file is picked up)
    or as a PEM secret.
    """

    username: str
    consumer_key: str
    private_key_file: Path | None = None
    private_key: Secret | None = None

    def __post_init__(self) -> None:
        if (self.private_key_file is None) == (self.private_key is None):
            raise ConfigError("JWT login needs exactly one of private_key_file and private_key")


@dataclass(frozen=True, slots=True)
class SessionAuth:
    """An existing session id (access token) for ``instance_url``; it cannot be renewed."""

    session_id: Secret
    instance_url: str

    def __post_init__(self) -> None:
        if not self.instance_url.startswith("https://"):
            raise ConfigError(
                "instance_url must be an https:// URL", details={"instance_url": self.instance_url}
            )


Auth = PasswordAuth | JwtAuth | SessionAuth


@dataclass(frozen=True, slots=True)
class ConnectTo:
    """Connect to ``to_host:to_port`` instead of ``host:port`` (None: any), as curl's
    ``--connect-to`` does: the URL, SNI, certificate check and Host header keep the real name.

    A diagnostic and test aid (a local tunnel, a fake org); the target must be on loopback.
    """

    host: str | None
    port: int | None
    to_host: str
    to_port: int

    @classmethod
    def parse(cls, entry: str) -> ConnectTo:
        """Return the rule ``HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT``; raise ConfigError."""
        found = _CONNECT_TO.fullmatch(entry)
        if found is None:
            raise ConfigError(
                "connect_to entries read HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT "
                '(HOST or PORT empty: any), e.g. "login.salesforce.com:443:127.0.0.1:8443"',
                details={"connect_to": entry},
            )
        to_host = found["to_host"].strip("[]")
        if not _is_loopback(to_host):
            raise ConfigError(
                "connect_to only redirects to a loopback address (127.0.0.0/8, [::1], localhost)",
                details={"connect_to": entry},
            )
        port, to_port = found["port"], int(found["to_port"])
        if not 0 < to_port < 65536 or (port and not 0 < int(port) < 65536):
            raise ConfigError("connect_to has a port out of range", details={"connect_to": entry})
        return cls(found["host"].lower() or None, int(port) if port else None, to_host, to_port)

    def applies_to(self, host: str, port: int) -> bool:
        """Return whether a connection to ``host:port`` goes to this rule's target."""
        return self.host in (None, host.lower()) and self.port in (None, port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SalesforceSettings:
    """Everything the Salesforce connector needs; see docs/salesforce.md for each option."""

    auth: Auth
    domain: str = "login"  # "login" (production), "test" (sandbox) or a My Domain ("acme.my")
    api_version: str = "59.0"
    default_region: str = "GB"  # how national numbers (in calls and in Salesforce) are read
    name: str = "salesforce"  # RecordRef.system of every reference the connector makes
    # Agent username -> Salesforce User Id (005...), the owner of the Task logging a call.
    agent_users: Mapping[str, str] = field(default_factory=dict, hash=False)
    default_owner_id: str | None = None  # owner when the agent is unmapped; None: API user
    call_id_field: str | None = None  # e.g. "CTI_Call_Id__c": an External ID on Activity
    recording_field: str | None = None  # e.g. "CTI_Recording__c": a URL field on Activity
    activity_timezone: str = "UTC"  # the zone whose calendar date becomes ActivityDate
    lookup_objects: tuple[str, ...] = _LOOKUP_OBJECTS
    contact_phone_fields: tuple[str, ...] = ("Phone", "MobilePhone", "HomePhone", "OtherPhone")
    lead_phone_fields: tuple[str, ...] = ("Phone", "MobilePhone")
    https_proxy: str | None = None  # "http://proxy.internal:3128"; None: connect directly
    ca_bundle: str | None = None  # PEM file of the CAs to trust; None: the system's (certifi)
    # Diagnostic: "HOST:PORT:127.0.0.1:PORT" rules, like curl --connect-to; () in production.
    connect_to: tuple[str, ...] = ()
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0
    operation_timeout_s: float = 30.0  # one connector call, retries and backoff included
    max_attempts: int = 4  # per request, the first one included
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 4.0
    max_concurrent_requests: int = 4  # also the worker threads (lookups have two more)
    cache_ttl_s: float = 30.0
    cache_size: int = 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "agent_users", MappingProxyType(dict(self.agent_users)))
        self._check_connection()
        self._check_names()
        self._check_limits()

    def _check_connection(self) -> None:
        if not _DOMAIN.fullmatch(self.domain) or self.domain.endswith("salesforce.com"):
            raise ConfigError(
                'domain is "login", "test" or a My Domain prefix such as "acme.my" '
                "(without .salesforce.com)",
                details={"domain": self.domain},
            )
        if not _API_VERSION.fullmatch(self.api_version):
            raise ConfigError(
                'api_version looks like "59.0" (no leading v)',
                details={"api_version": self.api_version},
            )
        if not is_known_region(self.default_region):
            raise ConfigError("unknown default region", details={"region": self.default_region})
        rules = [ConnectTo.parse(entry) for entry in self.connect_to]
        if rules and self.https_proxy is not None:
            raise ConfigError("connect_to and https_proxy cannot be used together")
        if self.ca_bundle == "":
            raise ConfigError("ca_bundle is a path to a PEM file (leave it out for the default)")
        try:
            ZoneInfo(self.activity_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                "unknown activity_timezone", details={"timezone": self.activity_timezone}
            ) from exc

    @property
    def connect_rules(self) -> tuple[ConnectTo, ...]:
        """Return the parsed ``connect_to`` rules, in order (the first that applies wins)."""
        return tuple(ConnectTo.parse(entry) for entry in self.connect_to)

    def _check_names(self) -> None:
        if not self.name:
            raise ConfigError("the connector needs a name")
        names = (*self.contact_phone_fields, *self.lead_phone_fields)
        names += tuple(f for f in (self.call_id_field, self.recording_field) if f is not None)
        for api_name in names:
            if not _API_NAME.fullmatch(api_name):
                raise ConfigError("not a Salesforce field name", details={"field": api_name})
        unknown = set(self.lookup_objects) - set(_LOOKUP_OBJECTS)
        if unknown or not self.lookup_objects:
            raise ConfigError(
                f"lookup_objects are some of {', '.join(_LOOKUP_OBJECTS)}",
                details={"lookup_objects": list(self.lookup_objects)},
            )
        owners = dict(self.agent_users)
        if self.default_owner_id is not None:
            owners[""] = self.default_owner_id
        for agent, user_id in owners.items():
            if not _USER_ID.fullmatch(user_id):
                raise ConfigError(
                    "a Salesforce user id starts with 005 and has 15 or 18 characters",
                    details={"agent": agent, "user_id": user_id},
                )

    def _check_limits(self) -> None:
        positive = {
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "operation_timeout_s": self.operation_timeout_s,
            "backoff_base_s": self.backoff_base_s,
            "backoff_cap_s": self.backoff_cap_s,
            "max_attempts": self.max_attempts,
            "max_concurrent_requests": self.max_concurrent_requests,
            "cache_size": self.cache_size,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{key} must be positive", details={key: value})
        if self.cache_ttl_s < 0:
            raise ConfigError("cache_ttl_s cannot be negative (0 turns the cache off)")
        if self.max_attempts > 10 or self.max_concurrent_requests > 64:
            raise ConfigError("max_attempts is at most 10 and max_concurrent_requests at most 64")
