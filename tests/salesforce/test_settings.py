"""Settings, secrets and the configuration table: loud on bad values, never showing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_connectors.salesforce import (
    JwtAuth,
    PasswordAuth,
    SalesforceCrm,
    SalesforceSettings,
    Secret,
    SessionAuth,
    from_config,
    secret_from,
    settings_from_config,
)
from cti.errors import ConfigError

_PW = {"auth": "password", "username": "u", "password_env": "P"}
_SESSION = {"auth": "session", "instance_url": "https://a.my.salesforce.com", "session_id_env": "S"}
AUTH = PasswordAuth("cti@acme.test", Secret("hunter2-password"), Secret("TOKENxyz"))


def test_repr_hides_every_secret() -> None:
    settings = SalesforceSettings(auth=AUTH)
    session = SessionAuth(Secret("00Dxx!AQsecretsession"), "https://acme.my.salesforce.com")
    jwt = JwtAuth("cti@acme.test", "3MVGkey", private_key=Secret("-----BEGIN PRIVATE KEY-----x"))

    shown = f"{settings!r} {settings} {session!r} {jwt!r} {AUTH.password}"
    for secret in ("hunter2-password", "TOKENxyz", "secretsession", "BEGIN PRIVATE"):
        assert secret not in shown
    assert "Secret('********')" in shown
    assert AUTH.password.reveal() == "hunter2-password"


def test_secret_from_the_given_environment_then_a_file(tmp_path: Path) -> None:
    file = tmp_path / "password"
    file.write_text("from-file\n")

    assert secret_from("SF_PASSWORD", environ={"SF_PASSWORD": "from-env"}).reveal() == "from-env"
    assert secret_from("SF_PASSWORD", file, environ={}).reveal() == "from-file"
    assert secret_from(file=file).reveal() == "from-file"


def test_secret_from_is_loud_when_nothing_holds_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as failed:
        secret_from("SF_PASSWORD", tmp_path / "missing", environ={})
    assert failed.value.details["env"] == "SF_PASSWORD"
    with pytest.raises(ConfigError):
        secret_from("SF_PASSWORD", environ={"SF_PASSWORD": ""})
    with pytest.raises(ConfigError, match="pass the environment"):
        secret_from("SF_PASSWORD")
    with pytest.raises(ConfigError):
        secret_from()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"domain": "acme.my.salesforce.com"}, "without .salesforce.com"),
        ({"domain": "https://login"}, "My Domain"),
        ({"api_version": "v59.0"}, "no leading v"),
        ({"default_region": "XX"}, "region"),
        ({"activity_timezone": "Mars/Base"}, "timezone"),
        ({"call_id_field": "CTI Call Id"}, "field name"),
        ({"contact_phone_fields": ("Phone", "x) OR (y")}, "field name"),
        ({"lookup_objects": ("Contact", "User")}, "lookup_objects"),
        ({"agent_users": {"alice": "00Q000000000001"}}, "user id"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"read_timeout_s": 0}, "read_timeout_s"),
        ({"cache_ttl_s": -1}, "cache_ttl_s"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SalesforceSettings(auth=AUTH, **changes)  # type: ignore[arg-type]


def test_auth_values_check_themselves() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        JwtAuth("cti@acme.test", "key")
    with pytest.raises(ConfigError, match="https"):
        SessionAuth(Secret("x"), "http://acme.my.salesforce.com")
    with pytest.raises(ConfigError):
        Secret("")


def test_agent_users_cannot_be_changed_afterwards() -> None:
    users = {"alice": "0055g00000AbCdEAAZ"}
    settings = SalesforceSettings(auth=AUTH, agent_users=users)
    users["bob"] = "0055g00000AbCdFAAZ"

    assert dict(settings.agent_users) == {"alice": "0055g00000AbCdEAAZ"}
    with pytest.raises(TypeError):
        settings.agent_users["carol"] = "x"  # type: ignore[index]


def test_settings_from_a_config_table(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("TOKENxyz\n")
    config = {
        "auth": "password",
        "username": "cti@acme.test",
        "password_env": "CTI_SF_PASSWORD",
        "security_token_file": str(token_file),
        "domain": "test",
        "api_version": "61.0",
        "call_id_field": "CTI_Call_Id__c",
        "agent_users": {"alice": "0055g00000AbCdEAAZ"},
        "lookup_objects": ["Contact", "Account"],
        "read_timeout_s": 4,
        "max_concurrent_requests": 2,
        "https_proxy": None,
    }

    settings = settings_from_config(config, environ={"CTI_SF_PASSWORD": "hunter2-password"})

    assert settings.auth == AUTH
    assert (settings.domain, settings.api_version) == ("test", "61.0")
    assert settings.lookup_objects == ("Contact", "Account")
    assert settings.read_timeout_s == 4.0
    assert settings.max_concurrent_requests == 2
    assert dict(settings.agent_users) == {"alice": "0055g00000AbCdEAAZ"}


def test_jwt_and_session_config(tmp_path: Path) -> None:
    jwt = settings_from_config(
        {
            "auth": "jwt",
            "username": "cti@acme.test",
            "consumer_key": "3MVGkey",
            "private_key_file": str(tmp_path / "sf.key"),
        },
        environ={},
    )
    assert jwt.auth == JwtAuth("cti@acme.test", "3MVGkey", private_key_file=tmp_path / "sf.key")

    session = settings_from_config(
        {
            "auth": "session",
            "session_id_env": "SF_SID",
            "instance_url": "https://acme.my.salesforce.com",
        },
        environ={"SF_SID": "00Dxx!AQabc"},
    )
    assert isinstance(session.auth, SessionAuth)
    assert session.auth.session_id.reveal() == "00Dxx!AQabc"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"auth": "oauth"}, "auth: Input should be 'password', 'jwt' or 'session'"),
        ({**_PW, "pasword_file": "x"}, "pasword_file: Extra inputs are not permitted"),
        ({"auth": "password", "username": "u"}, "password_env or password_file"),
        ({"auth": "password", "password_env": "P"}, "needs username"),
        ({**_PW, "max_attempts": "three"}, "max_attempts: Input should be a valid integer"),
        ({**_PW, "max_attempts": 0}, "max_attempts"),
        ({**_PW, "lookup_objects": "Contact"}, "lookup_objects"),
        ({**_PW, "agent_users": {"a": 5}}, "agent_users"),
        ({**_SESSION, "username": "u"}, 'username: not used with auth = "session"'),
    ],
)
def test_bad_config_is_refused_with_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_config(config, environ={"P": "pw", "S": "sid"})


async def test_from_config_builds_a_connector() -> None:
    crm = from_config(
        {"auth": "password", "username": "u@acme.test", "password_env": "P", "name": "sf-eu"},
        environ={"P": "pw"},
    )
    try:
        assert isinstance(crm, SalesforceCrm)
        assert crm.name == "sf-eu"
    finally:
        await crm.close()
