"""Build the connector from a plain configuration table (a TOML ``[crm.salesforce]`` section).

The composition root passes the table and the process environment; secrets are named, not
written, in the table: ``password_env = "CTI_SF_PASSWORD"`` or ``password_file = "/run/..."``
(see :func:`~crm_connectors.salesforce.settings.secret_from`). Every other key is a field of
:class:`SalesforceSettings` with the same name. An unknown key or a value of the wrong type is a
ConfigError naming it. Example::

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

import requests

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

__all__ = ["from_config", "settings_from_config"]

_AUTH_KEYS = {
    "password": {
        "username",
        "password_env",
        "password_file",
        "security_token_env",
        "security_token_file",
    },
    "jwt": {"username", "consumer_key", "private_key_file", "private_key_env"},
    "session": {"session_id_env", "session_id_file", "instance_url"},
}
_PLAIN = {f.name: str(f.type) for f in fields(SalesforceSettings) if f.name != "auth"}


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
    kind = config.get("auth")
    if kind not in _AUTH_KEYS:
        raise ConfigError(
            'salesforce: auth is "password", "jwt" or "session"', details={"auth": kind}
        )
    allowed = {"auth"} | _AUTH_KEYS[str(kind)] | set(_PLAIN)
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(
            f"salesforce: unknown keys {', '.join(unknown)}", details={"keys": unknown}
        )
    auth = _auth(str(kind), config, environ)
    values = {key: _value(key, _PLAIN[key], config[key]) for key in config if key in _PLAIN}
    return SalesforceSettings(auth=auth, **values)  # type: ignore[arg-type]


def _auth(kind: str, config: Mapping[str, object], environ: Mapping[str, str]) -> Auth:
    if kind == "session":
        return SessionAuth(
            session_id=_secret(config, "session_id", environ),
            instance_url=_text(config, "instance_url"),
        )
    username = _text(config, "username")
    if kind == "password":
        token = None
        if "security_token_env" in config or "security_token_file" in config:
            token = _secret(config, "security_token", environ)
        return PasswordAuth(username, _secret(config, "password", environ), token)
    key_file = config.get("private_key_file")
    return JwtAuth(
        username=username,
        consumer_key=_text(config, "consumer_key"),
        private_key_file=None if key_file is None else Path(_text(config, "private_key_file")),
        private_key=_secret(config, "private_key", environ)
        if "private_key_env" in config
        else None,
    )


def _secret(config: Mapping[str, object], name: str, environ: Mapping[str, str]) -> Secret:
    env_name, file = config.get(f"{name}_env"), config.get(f"{name}_file")
    if not isinstance(env_name, str | None) or not isinstance(file, str | None):
        raise ConfigError(f"salesforce: {name}_env and {name}_file are strings")
    if env_name is None and file is None:
        raise ConfigError(f"salesforce: set {name}_env or {name}_file")
    return secret_from(env_name, file, environ=environ)


def _text(config: Mapping[str, object], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"salesforce: {key} is required (a string)", details={"key": key})
    return value


def _value(key: str, annotation: str, value: object) -> object:
    """Return ``value`` checked against the settings field's annotation."""
    optional = annotation.endswith("| None")
    if value is None and optional:
        return None
    base = annotation.removesuffix(" | None")
    if base == "str" and isinstance(value, str):
        return value
    if base == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "tuple[str, ...]" and _strings(value):
        return tuple(value)  # type: ignore[arg-type]
    if base == "Mapping[str, str]" and isinstance(value, Mapping) and _string_pairs(value):
        return dict(value)
    raise ConfigError(
        f"salesforce: {key} must be {annotation}", details={"key": key, "value": repr(value)[:80]}
    )


def _string_pairs(value: Mapping[object, object]) -> bool:
    return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _strings(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
