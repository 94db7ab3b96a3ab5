"""AsteriskCommands.set_global against a fake Asterisk over a real loopback socket: the
recording policies and announcements are published this way (cti.recording.dialplan), so the
frame on the wire must be a channel-less Setvar, an error answer must surface, and a value that
would inject headers must never reach the socket."""

from __future__ import annotations

import pytest

from cti.errors import AmiActionFailed, ValidationFailed
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.connection import AmiConnection
from tests.fakes.ami_server import FakeAmiServer, RecordingSink, error, success

from .conftest import SettingsFactory


async def test_a_global_is_a_setvar_without_a_channel(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Setvar", [success()])
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        commands = AsteriskCommands(conn)
        await commands.set_global("CTI_RECORD_Q_sales", "always")
        await commands.set_global("CTI_ANNOUNCE_1001", "")  # cleared: an empty value is sent
    [first, second] = await ami_server.wait_for("Setvar", 2)
    assert (first.get("Variable"), first.get("Value")) == ("CTI_RECORD_Q_sales", "always")
    assert (second.get("Variable"), second.get("Value")) == ("CTI_ANNOUNCE_1001", "")
    assert first.get("Channel", "<none>") == "<none>"  # no channel: a dialplan global


async def test_a_refused_global_raises_and_the_connection_stays(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Setvar", [error("Permission denied")])
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        with pytest.raises(AmiActionFailed) as failed:
            await AsteriskCommands(conn).set_global("CTI_RECORD_A_1001", "demand")
        assert failed.value.details["action"] == "Setvar"
        assert conn.ready


@pytest.mark.parametrize(
    ("name", "value"),
    [("BAD NAME", "x"), ("CTI_X", "always\r\nAction: Command"), ("CTI_Y\nAction: Hangup", "1")],
)
async def test_a_bad_name_or_value_never_reaches_the_socket(
    ami_server: FakeAmiServer,
    sink: RecordingSink,
    make_settings: SettingsFactory,
    name: str,
    value: str,
) -> None:
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        with pytest.raises(ValidationFailed):
            await AsteriskCommands(conn).set_global(name, value)
    assert ami_server.actions("Setvar") == []
