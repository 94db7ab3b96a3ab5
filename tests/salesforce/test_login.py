"""Logging in (password and token, JWT bearer, a given session id) and renewing expired sessions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_connectors.salesforce import JwtAuth, PasswordAuth, Secret, SessionAuth
from crm_connectors.salesforce.connector import SalesforceCrm
from cti.errors import CrmAccountLocked, CrmAuthFailed, CrmSessionExpired, CrmUnavailable
from tests.salesforce.conftest import INSTANCE, PASSWORD, TOKEN, USERNAME, Seed
from tests.salesforce.fake_salesforce import FakeSalesforce

JANE = "+442079460958"
JOHN = "+447700900123"
CONSUMER_KEY = "3MVG9fakeConsumerKey"


def _rsa_pem() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


async def test_password_and_token_log_in_once(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    await crm.lookup(JANE)
    await crm.lookup(JOHN)

    assert fake.login_hosts == ["login.salesforce.com"]
    assert crm.client.logins == 1
    login = next(r for r in fake.requests if r.path.startswith("/services/Soap/u/59.0"))
    assert f"{PASSWORD}{TOKEN}".encode() in login.body
    assert all(r.host == "fake-org.my.salesforce.com" for r in fake.rest_requests())


async def test_a_sandbox_logs_in_at_test_salesforce_com(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(domain="test", api_version="61.0")
    fake.api_version = fake.org.api_version = "61.0"

    assert (await crm.lookup(JANE)).single is not None
    assert fake.login_hosts == ["test.salesforce.com"]
    assert fake.rest_requests()[0].path == "/services/data/v61.0/search/"


async def test_a_bad_password_is_a_clear_error_without_the_secret(
    connect: Callable[..., SalesforceCrm], seed: Seed, caplog: pytest.LogCaptureFixture
) -> None:
    crm = connect(auth=PasswordAuth(USERNAME, Secret("wrong password"), Secret(TOKEN)))

    with caplog.at_level(logging.DEBUG), pytest.raises(CrmAuthFailed) as failed:
        await crm.lookup(JANE)

    error = failed.value
    assert type(error) is CrmAuthFailed
    assert "username, password or security token" in error.message
    assert error.details["code"] == "INVALID_LOGIN"
    assert error.details["username"] == USERNAME
    shown = f"{error} {error.as_dict()} {caplog.text}"
    assert "wrong password" not in shown
    assert TOKEN not in shown
    assert "Salesforce login failed" in caplog.text


async def test_a_bad_login_is_not_retried(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(auth=PasswordAuth(USERNAME, Secret("wrong password"), Secret(TOKEN)))

    with pytest.raises(CrmAuthFailed):
        await crm.lookup(JANE)
    assert len(fake.login_hosts) == 1  # retrying would only lock the user out sooner


async def test_a_login_meeting_a_maintenance_page_is_retried_not_refused(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    # The outage answers logins 503 with a well-formed HTML page: no LoginFault, no code.
    crm = connect(max_attempts=3)
    fake.outage(60)

    with pytest.raises(CrmUnavailable) as failed:
        await crm.lookup(JANE)
    assert failed.value.error_id == "crm.unavailable"
    assert len([r for r in fake.requests if r.path.startswith("/services/Soap/")]) == 3

    fake.outage(0)
    assert (await crm.lookup(JANE)).single is not None


async def test_a_locked_out_user(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    fake.users[USERNAME].locked = True

    with pytest.raises(CrmAccountLocked) as failed:
        await connect().lookup(JANE)
    assert "locked" in failed.value.message
    assert failed.value.details["code"] == "PASSWORD_LOCKOUT"


async def test_a_locked_out_user_answered_as_invalid_login_gets_the_hint(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    fake.users[USERNAME].locked = True
    fake.users[USERNAME].lockout_code = "INVALID_LOGIN"

    with pytest.raises(CrmAuthFailed) as failed:
        await connect().lookup(JANE)
    assert "locked-out user" in failed.value.message


async def test_an_expired_session_is_renewed_once_and_the_request_repeated(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    await crm.lookup(JANE)
    fake.revoke_sessions()

    result = await crm.lookup(JOHN)

    assert result.single is not None
    assert result.single.display_name == "John Roe"
    assert crm.client.logins == 2
    statuses = [r.path for r in fake.requests]
    assert statuses.count("/services/Soap/u/59.0") == 2


async def test_a_session_rejected_again_after_renewal_fails_loudly(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    await crm.lookup(JANE)
    fake.fail_next(2, "invalid_session")

    with pytest.raises(CrmSessionExpired) as failed:
        await crm.lookup(JOHN)

    assert "twice in a row" in failed.value.message
    assert crm.client.logins == 2  # renewed exactly once
    assert any(r.levelno == logging.ERROR and "twice" in r.getMessage() for r in caplog.records)


async def test_jwt_bearer_login(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce, tmp_path: Path
) -> None:
    private, public = _rsa_pem()
    fake.add_jwt_app(CONSUMER_KEY, public)
    key_file = tmp_path / "salesforce.key"
    key_file.write_bytes(private)

    crm = connect(auth=JwtAuth(USERNAME, CONSUMER_KEY, private_key_file=key_file))
    result = await crm.lookup(JANE)

    assert result.single is not None
    token = next(r for r in fake.requests if r.path == "/services/oauth2/token")
    assert token.host == "login.salesforce.com"
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in token.body


async def test_jwt_with_the_wrong_key_is_refused(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    _, public = _rsa_pem()
    other_private, _ = _rsa_pem()
    fake.add_jwt_app(CONSUMER_KEY, public)

    crm = connect(auth=JwtAuth(USERNAME, CONSUMER_KEY, private_key=Secret(other_private.decode())))
    with pytest.raises(CrmAuthFailed) as failed:
        await crm.lookup(JANE)
    assert failed.value.details["code"] == "invalid_grant"


async def test_jwt_with_a_missing_key_file(
    connect: Callable[..., SalesforceCrm], seed: Seed, tmp_path: Path
) -> None:
    crm = connect(auth=JwtAuth(USERNAME, CONSUMER_KEY, private_key_file=tmp_path / "nope.key"))

    with pytest.raises(CrmAuthFailed, match="private key"):
        await crm.lookup(JANE)


async def test_a_given_session_id_is_used_without_logging_in(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    session_id = fake.new_session_id()
    crm = connect(auth=SessionAuth(Secret(session_id), INSTANCE))

    assert (await crm.lookup(JANE)).single is not None
    assert fake.login_hosts == []

    fake.revoke_sessions()
    with pytest.raises(CrmSessionExpired, match="cannot be renewed"):
        await crm.lookup(JOHN)
