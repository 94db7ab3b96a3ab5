"""AmiConnection against a fake Asterisk over a real loopback socket."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from cti.errors import AmiActionFailed, AmiConnectionLost, AmiError, ConfigError, ValidationFailed
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings, State, backoff_delay
from pbx_adapters.asterisk.frame import AmiFrame
from tests.fakes.ami_server import (
    FakeAmiServer,
    RecordingSink,
    encode,
    error,
    event,
    listing,
    success,
)

from .conftest import SettingsFactory, settings_for


async def test_login_events_and_clean_close(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        assert conn.version == "9.0.0"
        [login] = ami_server.actions("Login")
        assert (login.get("Username"), login.get("Secret"), login.get("Events")) == (
            "cti",
            "s3cret",
            "on",
        )
        await sink.wait_for("FullyBooted")
        await ami_server.push_frame(event("Newchannel", Channel="PJSIP/1001-00000001"))
        [frame] = await sink.wait_for("Newchannel")
        assert frame.get("Channel") == "PJSIP/1001-00000001"
        assert conn.stats.connects == 1
        assert conn.stats.reconnects == 0
        assert conn.stats.frames == 3  # login response, FullyBooted, Newchannel
        assert conn.stats.events == 2
        assert sink.times == sorted(sink.times)
    assert conn.state is State.CLOSED
    assert len(ami_server.actions("Logoff")) == 1
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ami-")]


async def test_utf8_name_split_across_tcp_reads(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        data = encode(event("Newchannel", CallerIDName="Zoë Çelik", Channel="PJSIP/7-1"))
        inside_e = data.index("ë".encode()) + 1
        await ami_server.push(data, splits=[inside_e])
        [frame] = await sink.wait_for("Newchannel")
        assert frame.get("CallerIDName") == "Zoë Çelik"


async def test_responses_correlate_by_action_id_out_of_order(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Alpha", None)
    ami_server.on("Beta", None)
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        alpha = asyncio.create_task(conn.send_action({"Action": "Alpha"}))
        beta = asyncio.create_task(conn.send_action([("Action", "Beta"), ("X", "1")]))
        [a] = await ami_server.wait_for("Alpha")
        [b] = await ami_server.wait_for("Beta")
        await ami_server.push_frame(success(ActionID=b.action_id, Which="beta"))
        await ami_server.push_frame(event("Unrelated"))
        await ami_server.push_frame(success(ActionID=a.action_id, Which="alpha"))
        alpha_reply, beta_reply = await asyncio.gather(alpha, beta)
        assert isinstance(alpha_reply, AmiFrame)
        assert isinstance(beta_reply, AmiFrame)
        assert alpha_reply.get("Which") == "alpha"
        assert beta_reply.get("Which") == "beta"
        await sink.wait_for("Unrelated")
        assert not sink.named("Success")  # responses never reach the event sink


async def test_event_list_response_is_collected(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("CoreShowChannels", None)
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        task = asyncio.create_task(AsteriskCommands(conn).core_show_channels())
        [action] = await ami_server.wait_for("CoreShowChannels")
        aid = action.action_id
        frames = [
            success(ActionID=aid, EventList="start", Message="Channels will follow"),
            event("CoreShowChannel", ActionID=aid, Channel="PJSIP/1-1"),
            event("Newstate", Channel="PJSIP/9-9"),  # unsolicited, in the middle of the list
            event("CoreShowChannel", ActionID=aid, Channel="PJSIP/2-2"),
            event("CoreShowChannelsComplete", ActionID=aid, EventList="Complete", ListItems="2"),
        ]
        data = b"".join(encode(frame) for frame in frames)
        await ami_server.push(data, splits=[10, 100, 101, len(data) - 3])
        channels = await task
        assert [frame.get("Channel") for frame in channels] == ["PJSIP/1-1", "PJSIP/2-2"]
        [newstate] = await sink.wait_for("Newstate")
        assert newstate.get("Channel") == "PJSIP/9-9"
        assert not sink.named("CoreShowChannel")


async def test_queue_status_through_the_scripted_table(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    members = [event("QueueParams", Queue="sales"), event("QueueMember", Name="Agent 1")]
    ami_server.on("QueueStatus", listing(members, "QueueStatusComplete"))
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        items = await AsteriskCommands(conn).queue_status()
        assert [frame.name for frame in items] == ["QueueParams", "QueueMember"]


async def test_error_response_raises_action_failed(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Hangup", [error("No such channel")])
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        with pytest.raises(AmiActionFailed) as failed:
            await AsteriskCommands(conn).hangup("PJSIP/404-1")
        assert failed.value.message == "No such channel"
        assert failed.value.details["server"] == "pbx1"
        assert failed.value.details["action"] == "Hangup"
        with pytest.raises(AmiActionFailed, match="Invalid/unknown command"):
            await conn.send_action({"Action": "NoSuchAction"})
        assert conn.ready  # an error answer is not a connection problem


async def test_originate_in_flight_fails_and_is_never_resent(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Originate", None)  # Asterisk got it, then the link died before answering
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        commands = AsteriskCommands(conn)
        originate = asyncio.create_task(commands.originate("PJSIP/1001", "ctx", "0123"))
        [sent] = await ami_server.wait_for("Originate")
        ami_server.kill()
        with pytest.raises(AmiConnectionLost) as lost:
            await originate
        assert lost.value.details["action"] == "Originate"
        assert lost.value.details["action_id"] == sent.action_id
        await ami_server.wait_for("Login", 2)
        await conn.wait_ready(5)
        await sink.wait_for("FullyBooted", 2)  # panoramisk re-sent pending actions right here
        await commands.ping()  # a round trip after the reconnect: anything re-sent came first
        assert len(ami_server.actions("Originate")) == 1
        assert conn.stats.reconnects == 1


async def test_every_pending_future_fails_on_a_drop(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Ping", None)  # panoramisk leaves "forgetable" actions pending forever
    ami_server.on("Status", None)
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        ping = asyncio.create_task(conn.send_action({"Action": "Ping"}))
        status = asyncio.create_task(conn.send_action({"Action": "Status"}))
        await ami_server.wait_for("Status")
        ami_server.kill()
        async with asyncio.timeout(5):
            results = await asyncio.gather(ping, status, return_exceptions=True)
        assert all(isinstance(result, AmiConnectionLost) for result in results)


async def test_header_injection_is_refused_before_the_socket_is_written(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        before = len(ami_server.received)
        sent_before = conn.stats.actions_sent
        with pytest.raises(ValidationFailed):
            await conn.send_action({"Action": "Originate", "Channel": "100\r\nAction: Command"})
        with pytest.raises(ValidationFailed):
            await AsteriskCommands(conn).originate("PJSIP/1", "ctx", "100\r\nAction: Command")
        with pytest.raises(ValidationFailed):
            await AsteriskCommands(conn).redirect("PJSIP/1-1", "ctx", "1\nAction: Hangup")
        await conn.send_action({"Action": "Ping"})  # anything written earlier arrives first
        assert [action.name for action in ami_server.received[before:]] == ["Ping"]
        assert conn.stats.actions_sent == sent_before + 1


async def test_action_timeout_then_late_answer_is_stray(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Slow", None)
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        with pytest.raises(AmiError, match="outcome is unknown") as timed_out:
            await conn.send_action({"Action": "Slow"}, timeout_s=0.1)
        assert not isinstance(timed_out.value, AmiConnectionLost)
        [slow] = ami_server.actions("Slow")
        await ami_server.push_frame(success(ActionID=slow.action_id))
        await conn.send_action({"Action": "Ping"})
        assert conn.stats.stray_responses == 1
        assert conn.ready


async def test_not_connected_refuses_without_sending(make_settings: SettingsFactory) -> None:
    conn = AmiConnection("pbx1", make_settings(), RecordingSink())
    with pytest.raises(AmiError, match="not connected") as refused:
        await conn.send_action({"Action": "Ping"})
    assert not isinstance(refused.value, AmiConnectionLost)
    with pytest.raises(ValidationFailed):  # validation still comes first
        await conn.send_action({"Action": "Ping", "X": "\r\n"})
    await conn.close()
    assert conn.state is State.CLOSED


async def test_ping_timeout_drops_a_half_open_connection(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Ping", None)  # the socket is up but nothing answers
    settings = make_settings(ping_interval_s=0.05, ping_timeout_s=0.1)
    async with AmiConnection("pbx1", settings, sink) as conn:
        await ami_server.wait_for("Login", 2)
        assert conn.stats.pings_missed >= 1
        assert conn.stats.reconnects >= 1
        assert "Ping" in (conn.stats.last_error or "")


async def test_answered_pings_keep_the_connection(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    settings = make_settings(ping_interval_s=0.02, ping_timeout_s=0.5)
    async with AmiConnection("pbx1", settings, sink) as conn:
        await ami_server.wait_for("Ping", 5)
        assert conn.stats.connects == 1
        assert conn.stats.pings_missed == 0
        assert not sink.named("Success")


async def test_reconnect_backs_off_within_base_and_cap(sink: RecordingSink) -> None:
    with socket.socket() as probe:  # a port nothing listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delays: list[float] = []
    eight_tries = asyncio.Event()

    async def fast_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= 8:
            eight_tries.set()
        await asyncio.sleep(0.001)

    server = FakeAmiServer()
    settings = settings_for(server, port=port, backoff_base_s=0.5, backoff_cap_s=4.0)
    conn = AmiConnection("pbx1", settings, sink, sleep=fast_sleep)
    async with conn:
        async with asyncio.timeout(5):
            await eight_tries.wait()
        assert conn.stats.connect_failures >= 8
        assert "cannot connect" in (conn.stats.last_error or "")
        assert delays[0] == 0.5
        assert all(0.5 <= delay <= 4.0 for delay in delays)
        assert all(delay >= 2.0 for delay in delays[3:8])  # grown to the cap's upper half
        await server.start(port)
        try:
            await conn.wait_ready(5)
            assert conn.stats.connects == 1
        finally:
            await conn.close()
            await server.stop()


async def test_backoff_resets_after_a_stable_connection(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    delays: list[float] = []

    async def recording_sleep(delay: float) -> None:
        delays.append(delay)

    async def resync(conn: AmiConnection) -> None:
        await AsteriskCommands(conn).core_show_channels()

    ami_server.on("CoreShowChannels", None)  # no answer: no link ever finishes its resync
    settings = make_settings(backoff_base_s=0.01, backoff_cap_s=1.0, stable_after_s=0.2)
    conn = AmiConnection(
        "pbx1", settings, sink, on_login=resync, sleep=recording_sleep, rand=lambda: 1.0
    )
    async with conn:
        for _ in range(3):  # three short-lived links: the backoff grows
            await conn.wait_ready(5)
            logins = ami_server.logins
            ami_server.kill()
            await ami_server.wait_for("Login", logins + 1)
        await conn.wait_ready(5)
        await asyncio.sleep(0.3)  # stable now
        ami_server.kill()
        await ami_server.wait_for("Login", ami_server.logins + 1)
    assert delays == [0.01, 0.02, 0.04, 0.01]


async def test_a_link_that_resynced_resets_the_backoff(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    """Cut right after each resync: every reconnect waits the base delay, not a growing one
    (a growing one left AMI dark for the cap after a few network blips: fault drill 1)."""
    delays: list[float] = []
    resynced = asyncio.Event()

    async def recording_sleep(delay: float) -> None:
        delays.append(delay)

    async def resync(conn: AmiConnection) -> None:
        await AsteriskCommands(conn).core_show_channels()
        resynced.set()

    ami_server.on("CoreShowChannels", listing([], "CoreShowChannelsComplete"))
    settings = make_settings(backoff_base_s=0.01, backoff_cap_s=1.0, stable_after_s=60)
    conn = AmiConnection(
        "pbx1", settings, sink, on_login=resync, sleep=recording_sleep, rand=lambda: 1.0
    )
    async with conn:
        for _ in range(4):
            await asyncio.wait_for(resynced.wait(), 5)
            resynced.clear()
            logins = ami_server.logins
            ami_server.kill()
            await ami_server.wait_for("Login", logins + 1)
    assert delays == [0.01, 0.01, 0.01, 0.01]


async def test_refused_login_is_retried_and_reported(sink: RecordingSink) -> None:
    async with FakeAmiServer(secret="other") as server:
        settings = settings_for(server, secret="wrong")
        async with AmiConnection("pbx1", settings, sink) as conn:
            await server.wait_for("Login", 3)
            assert not conn.ready
            assert "refused the login of 'cti'" in (conn.stats.last_error or "")
            assert "wrong" not in (conn.stats.last_error or "")


async def test_hooks_resync_after_each_login(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on(
        "CoreShowChannels",
        listing([event("CoreShowChannel", Channel="PJSIP/1-1")], "CoreShowChannelsComplete"),
    )
    calls: list[Any] = []
    five_calls = asyncio.Event()

    def note(call: Any) -> None:
        calls.append(call)
        if len(calls) >= 5:
            five_calls.set()

    async def on_login(conn: AmiConnection) -> None:
        channels = await AsteriskCommands(conn).core_show_channels()
        note(("login", [frame.get("Channel") for frame in channels]))

    conn = AmiConnection(
        "pbx1",
        make_settings(),
        sink,
        on_connected=lambda c: note(("connected", c.name)),
        on_login=on_login,
        on_disconnected=lambda c, exc: note(("disconnected", type(exc).__name__)),
    )
    async with conn:
        await ami_server.wait_for("CoreShowChannels")
        ami_server.kill()
        await ami_server.wait_for("CoreShowChannels", 2)
        async with asyncio.timeout(5):
            await five_calls.wait()
    assert calls[:5] == [
        ("connected", "pbx1"),
        ("login", ["PJSIP/1-1"]),
        ("disconnected", "AmiConnectionLost"),
        ("connected", "pbx1"),
        ("login", ["PJSIP/1-1"]),
    ]


async def test_a_failing_sink_does_not_stop_the_read_path(
    ami_server: FakeAmiServer, make_settings: SettingsFactory
) -> None:
    kept = RecordingSink()

    def flaky(frame: AmiFrame, received_at: float) -> None:
        if frame.name == "Boom":
            raise RuntimeError("sink bug")
        kept(frame, received_at)

    async with AmiConnection("pbx1", make_settings(), flaky) as conn:
        await conn.wait_ready(5)
        await ami_server.push(encode(event("Boom")) + encode(event("After")))
        await kept.wait_for("After")
        assert conn.stats.sink_errors == 1


async def test_a_big_read_lets_other_callbacks_run_between_its_slices(
    ami_server: FakeAmiServer, make_settings: SettingsFactory
) -> None:
    """A read of ~100 KB (the loop fell behind) is not handled in one callback: what the first
    events queued (a pop's websocket write) runs before the last event is delivered, and every
    event still comes once, in wire order."""
    kept = RecordingSink()
    ran_after: list[int] = []  # how many burst events had been delivered when it ran

    def sink(frame: AmiFrame, received_at: float) -> None:
        kept(frame, received_at)
        if frame.get("N") == "0":
            asyncio.get_running_loop().call_soon(lambda: ran_after.append(len(kept.named("B"))))

    burst = b"".join(encode(event("B", N=str(i), Pad="x" * 80)) for i in range(1000))
    async with AmiConnection("pbx1", make_settings(), sink) as conn:
        await conn.wait_ready(5)
        assert conn._link is not None and conn._link.transport is not None
        transport = conn._link.transport
        transport.pause_reading()  # the burst waits in the socket, as behind a busy loop
        await ami_server.push(burst)
        await asyncio.sleep(0.1)
        transport.resume_reading()
        frames = await kept.wait_for("B", count=1000)
        assert [f.get("N") for f in frames] == [str(i) for i in range(1000)]
        burst_times = {t for f, t in zip(kept.frames, kept.times, strict=True) if f.name == "B"}
        assert len(burst_times) == 1, "the burst must arrive as one read for this test"
        await asyncio.sleep(0)
        assert ran_after and ran_after[0] < 1000, ran_after
        assert transport.is_reading()  # reading resumed after the last slice
        await ami_server.push_frame(event("After"))
        await kept.wait_for("After")


async def test_close_fails_in_flight_actions(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    ami_server.on("Status", None)
    conn = AmiConnection("pbx1", make_settings(), sink)
    await conn.start()
    await conn.wait_ready(5)
    status = asyncio.create_task(conn.send_action({"Action": "Status"}))
    await ami_server.wait_for("Status")
    await conn.close()
    with pytest.raises(AmiConnectionLost):
        await status
    await conn.close()  # idempotent
    with pytest.raises(RuntimeError):
        await conn.start()


def test_backoff_delay_bounds() -> None:
    assert backoff_delay(0, 0.5, 30, lambda: 0.7) == 0.5
    assert backoff_delay(1, 0.5, 30, lambda: 0.0) == 0.5
    assert backoff_delay(1, 0.5, 30, lambda: 1.0) == 1.0
    assert backoff_delay(3, 0.5, 30, lambda: 0.0) == 2.0
    assert backoff_delay(10_000, 0.5, 30, lambda: 0.0) == 15.0
    assert backoff_delay(10_000, 0.5, 30, lambda: 1.0) == 30.0


@pytest.mark.parametrize(
    "overrides",
    [{"backoff_base_s": 0}, {"backoff_cap_s": 0.1, "backoff_base_s": 1}, {"port": 0}],
)
def test_bad_settings_are_loud(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        AmiSettings(host="127.0.0.1", **overrides)


async def test_close_from_a_hook_ends_the_connection(
    ami_server: FakeAmiServer, sink: RecordingSink, make_settings: SettingsFactory
) -> None:
    async def on_login(conn: AmiConnection) -> None:
        await conn.close()

    conn = AmiConnection("pbx1", make_settings(), sink, on_login=on_login)
    await conn.start()
    [supervisor] = [t for t in asyncio.all_tasks() if t.get_name() == "ami-pbx1"]
    await ami_server.wait_for("Logoff")
    await asyncio.wait([supervisor], timeout=5)
    assert supervisor.cancelled()
    assert conn.state is State.CLOSED
    assert ami_server.logins == 1
