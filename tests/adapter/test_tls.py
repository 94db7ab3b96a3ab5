"""AMI over TLS: the settings turned into a context in one place, and handshake failures said in
words an admin can act on (real loopback sockets; the lab's real TLS port is tests/e2e)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from cti.config import AmiServerSettings
from cti.errors import ConfigError
from pbx_adapters.asterisk.connection import AmiConnection
from pbx_adapters.asterisk.tls import AmiTls
from tests.fakes.ami_server import FakeAmiServer, RecordingSink

from .conftest import settings_for


def test_off_is_plain_tcp_and_on_verifies_host_and_chain_by_default() -> None:
    assert AmiTls().context() is None
    context = AmiTls(enabled=True).context()
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_verify_off_encrypts_without_checking_the_peer() -> None:
    context = AmiTls(enabled=True, verify=False).context()
    assert context is not None
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname


def test_a_missing_or_empty_ca_file_is_said_when_the_settings_are_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file") as missing:
        AmiTls(enabled=True, ca_file=tmp_path / "none.pem").context()
    assert missing.value.details == {"ca_file": str(tmp_path / "none.pem")}
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        AmiTls(enabled=True, ca_file=junk).context()


def test_ca_options_without_tls_are_refused_in_the_config() -> None:
    with pytest.raises(ValidationError, match="set tls = true"):
        AmiServerSettings(name="pbx", tls_ca_file=Path("/etc/ca.pem"))
    with pytest.raises(ValidationError, match="set tls = true"):
        AmiServerSettings(name="pbx", tls_verify=False)
    assert AmiServerSettings(name="pbx", tls=True, tls_ca_file=Path("/x.pem")).tls_verify


async def failed_once(conn: AmiConnection, within: float = 5.0) -> None:
    """Wait until ``conn`` has failed to connect at least once (its stats are polled)."""
    deadline = asyncio.get_running_loop().time() + within
    while not conn.stats.connect_failures:
        assert asyncio.get_running_loop().time() < deadline, "the connection never failed"
        await asyncio.sleep(0.01)


@pytest.fixture
async def tls_listener() -> AsyncIterator[int]:
    """A TLS server on loopback with a certificate for 127.0.0.1 from a CA of its own."""
    server_ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert("127.0.0.1").configure_cert(context)

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0, ssl=context)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


async def test_a_certificate_of_another_ca_is_refused_with_the_reason(
    tls_listener: int, tmp_path: Path
) -> None:
    ca_file = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    tls = AmiTls(enabled=True, ca_file=ca_file).context()
    settings = settings_for(FakeAmiServer(), port=tls_listener, tls=tls)
    async with AmiConnection("pbx1", settings, RecordingSink()) as conn:
        await failed_once(conn)
        error = conn.stats.last_error or ""
        assert f"cannot connect to AMI pbx1 at 127.0.0.1:{tls_listener}" in error
        assert "TLS certificate is not trusted" in error and "ca_file" in error
        assert not conn.ready


async def test_tls_to_a_plain_ami_port_says_which_port_to_use() -> None:
    async with FakeAmiServer() as server:
        settings = settings_for(server, tls=AmiTls(enabled=True, verify=False).context())
        async with AmiConnection("pbx1", settings, RecordingSink()) as conn:
            await failed_once(conn)
            assert "tlsbindaddr" in (conn.stats.last_error or "")
