"""A listen/whisper/barge session that ends on its own: the supervisor's phone does not answer,
the supervisor hangs it up, or the agent's call ends while they listen. Each time the session is
gone, the end is audited with its reason, the supervisor's console is told, the agent too when
the group tells its agents, and only when the agent's call ended is the supervisor's channel
hung up (ChanSpy's E usually has already). Fakes that keep what they are handed."""

from __future__ import annotations

from dataclasses import replace

from cti.core.events import OriginateResponded
from cti.core.updates import CallEnded, CallState
from cti.monitoring import Mode
from tests.monitoring.test_monitor_service import SAM, TICK, service
from tests.supervisor.test_live import view


async def test_the_supervisor_s_phone_not_answering_ends_the_session() -> None:
    monitor, pbx, _calls, told, audited = service()
    session = await monitor.start(SAM, "c1", Mode.LISTEN)
    ringing = replace(view("spy1", state=CallState.RINGING), originate_id=session.originate_id)
    monitor.observe(TICK, [CallEnded(ringing, None)])  # rejected or timed out: never answered
    await monitor.close()
    assert monitor.sessions_of(SAM) == []
    assert audited == [("monitor.started", "sam"), ("monitor.ended", "sam")]
    supervisor = [data for who, data in told.got if who == "sam"]
    assert supervisor == [
        {"event": "ended", "session": session.id, "call_id": "c1", "reason": "not_answered"}
    ]
    assert [data["event"] for who, data in told.got if who == "alice"] == ["started", "ended"]
    assert [s[0] for s in pbx.sent] == ["originate"]  # nothing to hang up


async def test_the_agent_s_call_ending_hangs_the_supervisor_s_phone_up() -> None:
    monitor, pbx, calls, told, audited = service()
    session = await monitor.start(SAM, "c1", Mode.WHISPER)
    spy = replace(
        view("spy1", state=CallState.ANSWERED), originate_id=session.originate_id, answered_at=1.0
    )
    calls.calls.append(spy)
    calls.channels["spy1"] = {"caller": "PJSIP/1010-9"}
    agent_call = calls.calls[0]
    monitor.observe(TICK, [CallEnded(agent_call, None)])
    await monitor.close()
    assert ("hangup", "PJSIP/1010-9") in pbx.sent
    assert audited[-1] == ("monitor.ended", "sam")
    assert [d.get("reason") for who, d in told.got if who == "sam"] == ["call_ended"]
    assert monitor.sessions_of(SAM) == []
    # Its own call ending next (the hang-up) finds no session: nothing is said twice.
    monitor.observe(TICK, [CallEnded(spy, None)])
    await monitor.close()
    assert [k for k, _ in audited].count("monitor.ended") == 1


async def test_the_supervisor_hanging_up_ends_the_session_without_a_hang_up() -> None:
    monitor, pbx, _calls, told, audited = service(tell=False)
    session = await monitor.start(SAM, "c1", Mode.BARGE)
    spy = replace(
        view("spy1", state=CallState.ANSWERED), originate_id=session.originate_id, answered_at=1.0
    )
    monitor.observe(TICK, [CallEnded(spy, None)])
    await monitor.close()
    assert [s[0] for s in pbx.sent] == ["originate"]
    assert [kind for kind, _ in audited] == ["monitor.started", "monitor.ended"]
    assert told.got == [
        ("sam", {"event": "ended", "session": session.id, "call_id": "c1", "reason": "hung_up"})
    ]


async def test_a_failed_originate_ends_the_session_as_not_answered() -> None:
    """Asterisk's OriginateResponse Failure (rejected, busy, unreachable phone) for the
    session's action id, before any call of it was tracked."""
    monitor, _pbx, _calls, told, audited = service(tell=False)
    session = await monitor.start(SAM, "c1", Mode.LISTEN)
    other = OriginateResponded("lab", 2.0, "spy-other", False, "PJSIP/1010", "", 8)
    monitor.observe(other, [])
    assert monitor.sessions_of(SAM) != []
    failed = OriginateResponded("lab", 2.0, session.originate_id, False, "PJSIP/1010", "", 8)
    monitor.observe(failed, [])
    await monitor.close()
    assert monitor.sessions_of(SAM) == []
    assert [d["reason"] for _, d in told.got] == ["not_answered"]
    assert [kind for kind, _ in audited] == ["monitor.started", "monitor.ended"]
