"""Build the connector from a plain configuration table (a TOML ``[crm.salesforce]`` section).

The composition root passes the table and the process environment; secrets are named, not
written, in the table: ``password_env = "CTI_SF_PASSWORD"`` or ``password_file = "/run/..."``
(see :func:`~crm_connectors.salesforce.settings.secret_from`). Every other key is a field of
:class:`SalesforceSettings` with the same name. :class:`SalesforceConfig` is the one schema of
the table: the daemon's configuration types ``[crm.salesforce]`` with it (loud at load time),
and :func:`from_config` checks a plain table with it. An unknown key or a value of the wrong
type is a ConfigError naming it; the connector checks each value's form when it is built.
Example::

    auth = "jwt"
    username = "cti-integration@acme.com"
    consumer_key = "3MVG9..."
    private_key_file = "/etc/cti/salesforce-jwt.key"
    domain = "login"
    call_id_field = "CTI_Call_Id__c"
    agent_users = { alice = "0055g00000AbCdEAAZ" }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crm_connectors.salesforce.connector import SalesforceCrm
from crm_connectors.salesforce.settings import (
    Auth,
    JwtAuth,
    PasswordAuth,
    SalesforceSettings,
    Secret,
    SessionAuth,
    secret_from,
)
from cti.errors import ConfigError

__all__ = ["SalesforceConfig", "from_config", "settings_from_config"]

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Seconds = Annotated[float, Field(gt=0)]
_SECRETS = ("password", "security_token", "session_id", "private_key")
_AUTH_FIELDS = {
    "password": {"username", "password_env", "password_file"}
    | {"security_token_env", "security_token_file"},
    "jwt": {"username", "consumer_key", "private_key_file", "private_key_env"},
    "session": {"session_id_env", "session_id_file", "instance_url"},
}
_AUTH_NEEDS = {
    "password": (("username",), ("password_env", "password_file")),
    "jwt": (("username",), ("consumer_key",), ("private_key_file", "private_key_env")),
    "session": (("instance_url",), ("session_id_env", "session_id_file")),
}
# The options of SalesforceSettings (every field but auth): a table key each, same name.
OPTIONS = frozenset(f.name for f in fields(SalesforceSettings)) - {"auth"}


class SalesforceConfig(BaseModel):
    """``[crm.salesforce]``: how the Salesforce connector logs in, and its options.

    Secrets are never written here, only where the daemon reads them: ``*_env`` names an
    environment variable, ``*_file`` a file (docs/salesforce.md, 1.2 and 3). An option left out
    takes the connector's default (docs/salesforce.md, 4), which also checks each value's form.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: Literal["password", "jwt", "session"]
    username: str | None = None
    password_env: EnvName | None = None
    password_file: Path | None = None
    security_token_env: EnvName | None = None
    security_token_file: Path | None = None
    consumer_key: str | None = None
    private_key_file: Path | None = None
    private_key_env: EnvName | None = None
    session_id_env: EnvName | None = None
    session_id_file: Path | None = None
    instance_url: str | None = None
    # The options (OPTIONS); None: the connector's default.
    domain: str | None = None
    api_version: str | None = None
    default_region: str | None = None  # None: crm.default_region (the daemon sets it)
    name: str | None = None
    agent_users: dict[str, str] | None = None
    default_owner_id: str | None = None
    call_id_field: str | None = None
    recording_field: str | None = None
    activity_timezone: str | None = None
    lookup_objects: tuple[str, ...] | None = None
    contact_phone_fields: tuple[str, ...] | None = None
    lead_phone_fields: tuple[str, ...] | None = None
    https_proxy: str | None = None
    ca_bundle: Path | None = None
    connect_to: tuple[str, ...] | None = None  # diagnostic, like curl --connect-to
    connect_timeout_s: Seconds | None = None
    read_timeout_s: Seconds | None = None
    operation_timeout_s: Seconds | None = None
    max_attempts: Annotated[int, Field(ge=1, le=10)] | None = None
    backoff_base_s: Seconds | None = None
    backoff_cap_s: Seconds | None = None
    max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] | None = None
    cache_ttl_s: Annotated[float, Field(ge=0)] | None = None
    cache_size: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _SECRETS:
                if name in data:
                    raise ValueError(
                        f"{name} is a secret: name where it is, {name}_env or {name}_file"
                    )
        return data

    @model_validator(mode="after")
    def _auth_complete(self) -> Self:
        given = {name for name in _AUTH_FIELDS[self.auth] if getattr(self, name) is not None}
        foreign = sorted(
            {
                name
                for kind, names in _AUTH_FIELDS.items()
                if kind != self.auth
                for name in names - _AUTH_FIELDS[self.auth]
                if getattr(self, name) is not None
            }
        )
        if foreign:
            raise ValueError(f'{", ".join(foreign)}: not used with auth = "{self.auth}"')
        for needed in _AUTH_NEEDS[self.auth]:
            if not given & set(needed):
                raise ValueError(f'auth = "{self.auth}" needs {" or ".join(needed)}')
        return self

    def connector_table(self) -> dict[str, object]:
        """Return the keys that are set, as :func:`from_config` reads them."""
        return dict(self.model_dump(mode="json", exclude_none=True))

    def settings(self, environ: Mapping[str, str]) -> SalesforceSettings:
        """Return the connector's settings, reading the named secrets from ``environ``."""
        options = self.model_dump(include=set(OPTIONS), exclude_none=True)
        if "ca_bundle" in options:
            options["ca_bundle"] = str(options["ca_bundle"])
        return SalesforceSettings(auth=self._auth(environ), **options)

    def _auth(self, environ: Mapping[str, str]) -> Auth:
        if self.auth == "session":
            assert self.instance_url is not None  # _auth_complete
            return SessionAuth(self._secret("session_id", environ), self.instance_url)
        assert self.username is not None  # _auth_complete
        if self.auth == "password":
            token = None
            if self.security_token_env or self.security_token_file:
                token = self._secret("security_token", environ)
            return PasswordAuth(self.username, self._secret("password", environ), token)
        assert self.consumer_key is not None  # _auth_complete
        return JwtAuth(
            username=self.username,
            consumer_key=self.consumer_key,
            private_key_file=self.private_key_file,
            private_key=self._secret("private_key", environ) if self.private_key_env else None,
        )

    def _secret(self, name: str, environ: Mapping[str, str]) -> Secret:
        env_name, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file", None)
        return secret_from(env_name, file, environ=environ)


def from_config(
    config: Mapping[str, object],
    *,
    environ: Mapping[str, str],
    session: requests.Session | None = None,
) -> SalesforceCrm:
    """Return a connector built from ``config``, reading named secrets from ``environ``."""
    return SalesforceCrm(settings_from_config(config, environ=environ), session=session)


def settings_from_config(
    config: Mapping[str, object], *, environ: Mapping[str, str]
) -> SalesforceSettings:
    """Return the settings ``config`` describes; raise ConfigError on any bad or unknown key."""
    try:
        table = SalesforceConfig.model_validate(dict(config))
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(
            "salesforce: " + "; ".join(problems), details={"problems": problems}
        ) from exc
    return table.settings(environ)
