"""The daemon's ``[crm.salesforce]`` section, and the ca_bundle / connect_to transport settings.

The section is typed in :mod:`cti.config` (loud at load time), the connector checks each value's
form (loud when the daemon builds it), and the composition root reads secrets only from the
environment mapping it is given.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from crm_connectors.salesforce import (
    ConnectTo,
    PasswordAuth,
    SalesforceCrm,
    SalesforceSettings,
    Secret,
    from_config,
)
from crm_connectors.salesforce.config import _AUTH_FIELDS, OPTIONS, SalesforceConfig
from cti.config import CrmSettings, load_settings
from cti.errors import ConfigError, CrmError
from cti.wiring import build_connectors
from tests.salesforce.conftest import PASSWORD, TOKEN, USERNAME, Seed
from tests.salesforce.fake_salesforce import FakeSalesforce

ENV = {"SF_PASSWORD": PASSWORD, "SF_TOKEN": TOKEN}


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cti.toml"
    path.write_text(text)
    return path


PASSWORD_SECTION = f"""
[crm]
connectors = ["builtin", "salesforce"]
default_region = "GB"

[crm.salesforce]
auth = "password"
username = "{USERNAME}"
password_env = "SF_PASSWORD"
security_token_env = "SF_TOKEN"
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic-settings reads CTI_* variables: make sure none leaks in from the shell."""
    for name in [n for n in os.environ if n.startswith("CTI_")]:
        monkeypatch.delenv(name)


# ------------------------------------------------------------------------ the typed section
def test_the_daemon_types_the_section_with_the_connectors_own_schema() -> None:
    assert CrmSettings.model_fields["salesforce"].annotation == SalesforceConfig | None
    login_keys = {"auth"}.union(*_AUTH_FIELDS.values())
    assert set(SalesforceConfig.model_fields) - login_keys == OPTIONS  # every option, no other


async def test_a_toml_section_builds_the_connector(tmp_path: Path, clean_env: None) -> None:
    settings = load_settings(write_config(tmp_path, PASSWORD_SECTION + 'call_id_field = "X__c"\n'))
    assert settings.crm.connectors == ("builtin", "salesforce")
    connectors = build_connectors(settings.crm, f"sqlite:///{tmp_path / 'crm.db'}", ENV)
    crm = connectors["salesforce"]
    assert isinstance(crm, SalesforceCrm)
    try:
        built = crm._settings
        assert built.call_id_field == "X__c" and built.default_region == "GB"
        assert built.auth.password.reveal() == PASSWORD  # type: ignore[union-attr]
        assert built.max_attempts == SalesforceSettings(auth=built.auth).max_attempts
    finally:
        for connector in connectors.values():
            await connector.close()


def test_environment_variables_layer_over_the_file(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTI_CRM__SALESFORCE__DOMAIN", "test")
    monkeypatch.setenv("CTI_CRM__SALESFORCE__MAX_ATTEMPTS", "2")
    section = load_settings(write_config(tmp_path, PASSWORD_SECTION)).crm.salesforce
    assert section is not None
    assert section.connector_table() == {
        "auth": "password",
        "username": USERNAME,
        "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN",
        "domain": "test",
        "max_attempts": 2,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('password = "hunter2"\n', "password is a secret"),
        ('consumer_key = "3MVG"\n', 'consumer_key: not used with auth = "password"'),
        ("max_attempts = 0\n", "max_attempts"),
        ('password_env = "NOT A NAME"\n', "password_env"),
        ("surprise = 1\n", "surprise"),
    ],
)
def test_bad_sections_fail_at_load_naming_the_key(
    tmp_path: Path, clean_env: None, extra: str, message: str
) -> None:
    text = PASSWORD_SECTION.replace('password_env = "SF_PASSWORD"\n', "") + extra
    if "password_env" not in extra and "password =" not in extra:
        text += 'password_env = "SF_PASSWORD"\n'
    with pytest.raises(ConfigError, match=message):
        load_settings(write_config(tmp_path, text))


@pytest.mark.parametrize(
    ("crm", "message"),
    [
        ('connectors = ["salesforce"]\n', r"configure it in \[crm.salesforce\]"),
        ('connectors = ["builtin", "builtin"]\n', "twice"),
        ("connectors = []\n", "at least 1"),
    ],
)
def test_bad_connector_lists_fail_at_load(
    tmp_path: Path, clean_env: None, crm: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write_config(tmp_path, "[crm]\n" + crm))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            'auth = "jwt"\nusername = "u"\nconsumer_key = "k"\n',
            "private_key_file or private_key_env",
        ),
        ('auth = "session"\nsession_id_env = "S"\n', "needs instance_url"),
        ('auth = "password"\npassword_env = "P"\n', "needs username"),
    ],
)
def test_each_auth_kind_names_what_it_lacks(
    tmp_path: Path, clean_env: None, section: str, message: str
) -> None:
    text = '[crm]\nconnectors = ["salesforce"]\n[crm.salesforce]\n' + section
    with pytest.raises(ConfigError, match=message):
        load_settings(write_config(tmp_path, text))


def test_a_missing_secret_stops_the_daemon_naming_the_variable(
    tmp_path: Path, clean_env: None
) -> None:
    settings = load_settings(write_config(tmp_path, PASSWORD_SECTION))
    with pytest.raises(ConfigError, match=r"\[crm.salesforce\] the secret is not set.*SF_TOKEN"):
        build_connectors(settings.crm, "sqlite://", {"SF_PASSWORD": PASSWORD})


def test_connector_level_checks_run_when_the_daemon_builds_it(
    tmp_path: Path, clean_env: None
) -> None:
    settings = load_settings(
        write_config(tmp_path, PASSWORD_SECTION + 'domain = "x.salesforce.com"\n')
    )
    with pytest.raises(ConfigError, match=r"\[crm.salesforce\] domain is"):
        build_connectors(settings.crm, "sqlite://", ENV)


# ------------------------------------------------------------------------ connect_to, ca_bundle
@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "login.salesforce.com:443:127.0.0.1:8443",
            ("login.salesforce.com", 443, "127.0.0.1", 8443),
        ),
        ("::127.0.0.2:9000", (None, None, "127.0.0.2", 9000)),
        ("Acme.My.Salesforce.com::localhost:1", ("acme.my.salesforce.com", None, "localhost", 1)),
        ("login.salesforce.com:443:[::1]:8443", ("login.salesforce.com", 443, "::1", 8443)),
    ],
)
def test_connect_to_reads_like_curl(entry: str, expected: tuple[object, ...]) -> None:
    assert dataclasses.astuple(ConnectTo.parse(entry)) == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("login.salesforce.com:443:10.1.2.3:443", "loopback"),
        ("login.salesforce.com:443:evil.example:443", "loopback"),
        ("login.salesforce.com:443:127.0.0.1", "HOST:PORT"),
        ("login.salesforce.com:443:127.0.0.1:70000", "out of range"),
        ("a/b:443:127.0.0.1:1", "HOST:PORT"),
    ],
)
def test_connect_to_refuses_anything_but_loopback_targets(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ConnectTo.parse(entry)


def test_connect_to_and_a_proxy_do_not_mix() -> None:
    with pytest.raises(ConfigError, match="https_proxy"):
        SalesforceSettings(
            auth=_auth(), connect_to=("::127.0.0.1:1",), https_proxy="http://proxy:3128"
        )


def _auth() -> PasswordAuth:
    return PasswordAuth(USERNAME, Secret(PASSWORD), Secret(TOKEN))


def _table(fake: FakeSalesforce, **extra: object) -> dict[str, object]:
    return {
        "auth": "password",
        "username": USERNAME,
        "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN",
        "connect_to": fake.connect_to(),
        "max_attempts": 1,
        **extra,
    }


async def test_the_connectors_own_session_reaches_the_fake_with_its_ca(
    fake: FakeSalesforce, seed: Seed
) -> None:
    async with from_config(_table(fake, ca_bundle=fake.ca_file), environ=ENV) as crm:
        found = await crm.lookup("+442079460958")
    assert [m.ref.record_id for m in found.matches] == [seed.jane]
    assert found.matches[0].ref.url == (
        f"https://{fake.instance_host}/lightning/r/Contact/{seed.jane}/view"
    )
    assert {r.host for r in fake.requests} == {"login.salesforce.com", fake.instance_host}


async def test_without_the_ca_the_fake_certificate_is_refused(fake: FakeSalesforce) -> None:
    async with from_config(_table(fake), environ=ENV) as crm:
        with pytest.raises(CrmError) as failed:
            await crm.lookup("+442079460958")
    assert not fake.requests
    assert "verify" in failed.value.message or "TLS" in failed.value.message


def test_a_missing_ca_bundle_fails_at_startup(fake: FakeSalesforce, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_bundle"):
        from_config(_table(fake, ca_bundle=str(tmp_path / "none.pem")), environ=ENV)
