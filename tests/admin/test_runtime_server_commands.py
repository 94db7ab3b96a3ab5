"""A server an admin adds at runtime gets its commands: click-to-dial, pauses, recording globals.

One ``Daemon`` served by uvicorn on loopback; its configured server ``lab`` and the servers the
admin adds are fake AMI servers on real TCP sockets (tests/fakes/ami_server.py), which keep
every action they get. Carol's phone is ``PJSIP/2001`` on ``pbx2``, which the configuration file
does not name. Before, the root built the commands map from the configured servers only: her
dial was refused ("your phone is on server 'pbx2', which this daemon does not reach") after the
admin added pbx2 as before, her pause never reached pbx2 and no recording global was set there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from broker_adapters.redis.server import free_port
from cti.config import AmiServerSettings, Settings, StoreSettings
from cti.core.updates import CallState, CallView
from cti.daemon import Daemon
from cti.errors import AmiError
from cti.monitoring.service import SPY_CONTEXT
from cti.principal import Role
from cti.recording.dialplan import GENERATION_VARIABLE
from cti.store.values import AgentEndpoint, GroupSpec
from tests.fakes.ami_server import FakeAmiServer, Frame, ReceivedAction, error, listing, success
from tests.security.site import PASSWORD, Site, http_of, loopback_socket, served
from tests.transcript import frames

SECRET = "fake-secret"
CAROL_PHONE = "PJSIP/2001"
PAUSE = {"state": "paused", "reason": "Lunch"}


def fake_pbx(members: Sequence[str] = ()) -> FakeAmiServer:
    """A fake Asterisk answering what the daemon sends; ``members`` are its queue members
    (QueuePause of any other interface: "Interface not found", as Asterisk answers)."""
    ami = FakeAmiServer(username="cti", secret=SECRET)
    ami.on("CoreShowChannels", listing([], "CoreShowChannelsComplete"))
    ami.on("QueueStatus", listing([], "QueueStatusComplete"))
    ami.on("Originate", [success(Message="Originate successfully queued")])
    ami.on("Setvar", [success(Message="Variable Set")])

    def pause(action: ReceivedAction) -> list[Frame]:
        if action.get("Interface") in members:
            return [success(Message="Interface paused successfully")]
        return [error("Interface not found")]

    ami.on("QueuePause", pause)
    return ami


@asynccontextmanager
async def running(workdir: Path, lab_port: int) -> AsyncIterator[Site]:
    """The daemon, its only configured server ``lab`` on ``lab_port``, served on loopback."""
    sock = loopback_socket()
    http = http_of(sock)
    (workdir / "state").mkdir(mode=0o700)
    lab = AmiServerSettings(name="lab", port=lab_port, secret=SecretStr(SECRET))
    daemon = Daemon(
        Settings(
            state_dir=workdir / "state",
            store=StoreSettings(url=f"sqlite:///{workdir}/state/cti.sqlite3"),
            http=http,
            servers=(lab,),
        )
    )
    async with served(daemon, sock, http) as site:
        yield site


async def client(site: Site, username: str) -> httpx.AsyncClient:
    cookie, csrf = await site.login(username)
    return site.client(cookie, csrf)


def server_body(name: str, ami: FakeAmiServer) -> dict[str, object]:
    return {
        "name": name,
        "host": "127.0.0.1",
        "port": ami.port,
        "username": "cti",
        "secret": SECRET,
    }


def pauses(ami: FakeAmiServer) -> list[tuple[str, str]]:
    return [(a.get("Interface"), a.get("Paused")) for a in ami.actions("QueuePause")]


def generation_set(ami: FakeAmiServer, generation: str) -> Callable[[], bool]:
    """Whether the recording service's generation, set last, reached ``ami``."""
    return lambda: any(
        a.get("Variable") == GENERATION_VARIABLE and a.get("Value") == generation
        for a in ami.actions("Setvar")
    )


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not check():  # noqa: ASYNC110  (the daemon's own tasks make it true)
            await asyncio.sleep(0.02)


async def test_dial_pause_and_recording_reach_a_server_added_changed_and_removed_at_runtime(
    tmp_path: Path,
) -> None:
    async with (
        fake_pbx() as lab,
        fake_pbx(members=[CAROL_PHONE]) as pbx2,
        fake_pbx(members=[CAROL_PHONE]) as moved,
        running(tmp_path, lab.port) as site,
    ):
        daemon = site.daemon
        store = daemon.store
        store.create_agent("root", password=PASSWORD, role=Role.ADMIN)
        store.create_agent(
            "carol", password=PASSWORD, endpoints=(AgentEndpoint(CAROL_PHONE, "pbx2"),)
        )
        alice = AgentEndpoint("PJSIP/1001", "pbx2")  # the recorded call rings PJSIP/1001
        store.create_agent("alice", password=PASSWORD, endpoints=(alice,))
        store.create_agent(
            "sue",
            password=PASSWORD,
            role=Role.SUPERVISOR,
            endpoints=(AgentEndpoint("PJSIP/1009", "pbx2"),),
        )
        store.create_group(GroupSpec("Support", members=("alice",), supervisors=("sue",)))
        await daemon.refresh_directory()

        def calls_on(server: str) -> list[CallView]:
            return [call for call in daemon.tracker.active_calls() if call.server == server]

        generation = daemon.recording.generation
        await until(lambda: lab.logins == 1)
        async with await client(site, "root") as admin, await client(site, "carol") as carol:
            refused = await carol.post("/api/dial", json={"number": "1002"})
            assert refused.status_code == 403, refused.text  # pbx2 is not known yet
            assert refused.json()["details"]["reason"] == "no_server"
            # A server that never answers, added first: it must not keep pbx2 from working.
            down = {**server_body("down", lab), "port": free_port()}
            assert (await admin.post("/api/admin/servers", json=down)).status_code == 201

            added = await admin.post("/api/admin/servers", json=server_body("pbx2", pbx2))
            assert added.status_code == 201, added.text
            # Its session logs in, and the recording service publishes its globals there at
            # once (the next full pass is 30 s away): the generation is set last.
            await until(generation_set(pbx2, generation))
            assert pbx2.logins == 1

            dialled = await carol.post("/api/dial", json={"number": "1002"})
            assert dialled.status_code == 202, dialled.text
            [originate] = pbx2.actions("Originate")
            assert originate.get("Channel") == CAROL_PHONE and originate.get("Exten") == "1002"
            assert lab.actions("Originate") == []

            paused = await carol.post("/api/agent/state", json=PAUSE)
            assert paused.status_code == 200, paused.text
            assert paused.json()["state"] == "paused"
            ready = await carol.post("/api/agent/state", json={"state": "ready"})
            assert ready.status_code == 200, ready.text
            # Paused then unpaused on pbx2, though "down" (asked first) could not be reached.
            assert [p for p in pauses(pbx2) if p[0] == CAROL_PHONE] == [
                (CAROL_PHONE, "true"),
                (CAROL_PHONE, "false"),
            ]

            # A call answered by alice on pbx2 (a recorded lab call, sent by pbx2 itself): her
            # supervisor listens in, and the spy call rings his phone through pbx2.
            for frame in frames("direct_answered")[1:16]:
                await pbx2.push_frame(list(frame))
            await until(lambda: any(c.state is CallState.ANSWERED for c in calls_on("pbx2")))
            [call] = calls_on("pbx2")
            async with await client(site, "sue") as sue:
                joined = await sue.post("/api/monitor", json={"call_id": call.call_id})
                assert joined.status_code == 201, joined.text
            spy = pbx2.actions("Originate")[-1]
            assert spy.get("Channel") == "PJSIP/1009" and spy.get("Context") == SPY_CONTEXT
            assert len(pbx2.actions("Originate")) == 2 and lab.actions("Originate") == []

            # pbx2 moves to another host: its new session takes the commands and the globals.
            body = server_body("pbx2", moved)
            changed = await admin.put("/api/admin/servers/pbx2", json=body)
            assert changed.status_code == 200, changed.text
            await until(generation_set(moved, generation))
            dialled = await carol.post("/api/dial", json={"number": "1003"})
            assert dialled.status_code == 202, dialled.text
            assert [a.get("Exten") for a in moved.actions("Originate")] == ["1003"]
            assert len(pbx2.actions("Originate")) == 2

            removed = await admin.delete("/api/admin/servers/pbx2")
            assert removed.status_code == 200, removed.text
            assert "pbx2" not in daemon.commands
            sent = len(moved.received)
            refused = await carol.post("/api/dial", json={"number": "1004"})
            assert refused.status_code == 403, refused.text
            assert refused.json()["details"]["reason"] == "no_server"
            # Her phone is a member on no server reached now, and "down" may hold it: say so.
            paused = await carol.post("/api/agent/state", json=PAUSE)
            assert paused.status_code == 502, paused.text
            assert paused.json()["details"]["server"] == "down"
            # A full pass reaches the servers there are: lab, and down's error comes after.
            with pytest.raises(AmiError):
                await daemon.recording.publish()
            assert generation_set(lab, generation)()
            assert len(moved.received) == sent  # nothing more went to the removed server
