"""The dialplan records without waiting for the daemon (issue 19): the recording policy of
each DID, queue, trunk and agent endpoint is published as a global before any call, in the
order the daemon picks a call's group, and the daemon keeps the recording the gosub started,
named as the gosub names it, from that leg's MixMonitorStart (recorded lab transcripts)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cti.principal import Principal, Role
from cti.recording.dialplan import dialplan_globals, policy_in, record_file
from tests.recording.harness import DIRECTORY, harness

SAM = Principal("sam", "Sam", Role.SUPERVISOR)
POLICY = {"Sales": "always", "Support": "never", "Claims": "demand"}


def test_the_file_name_is_built_from_the_leg_alone() -> None:
    assert record_file("1795309435.2", "1795309435.3") == "rec-1795309435-2-1795309435-3"
    assert record_file("pbx1-1795309435.2", "x/y;1.3") == "rec-pbx1-1795309435-2-xy1-3"
    assert len(record_file("9" * 60, "8" * 60)) == 64  # recordings.id


def test_policies_are_published_by_did_queue_trunk_and_agent_endpoint() -> None:
    directory = replace(
        DIRECTORY,
        groups={**DIRECTORY.groups, "Claims": replace(DIRECTORY.groups["Sales"], name="Claims")},
        did_groups={"+442079460300": "Claims", "442079469999": "Gone"},
        trunk_groups={("lab", "lab-trunk"): "Support", ("other", "far-trunk"): "Sales"},
    )
    published = dialplan_globals(directory, "lab", POLICY.__getitem__, lambda g: "", "g7")
    records = {k: v for k, v in published.items() if k.startswith("CTI_RECORD_")}
    assert records == {
        "CTI_RECORD_D_442079460300": "demand@g7",  # a group that does not exist is left out
        "CTI_RECORD_Q_sales": "always@g7",
        "CTI_RECORD_Q_support": "never@g7",
        "CTI_RECORD_T_labtrunk": "never@g7",  # this server's trunks only
        "CTI_RECORD_A_1001": "always@g7",
        "CTI_RECORD_A_1002": "always@g7",
    }


def test_only_values_of_the_current_generation_count() -> None:
    assert policy_in("always@g7", "g7") == "always"
    assert policy_in("always@g6", "g7") == ""  # an earlier run's, or another store's
    assert policy_in("always", "g7") == ""
    assert policy_in("never@", "") == "never"


async def test_a_policy_left_in_asterisk_by_an_earlier_run_is_not_followed(
    tmp_path: Path,
) -> None:
    """Alice's endpoint said `always` in a run before this one (a group she left while no daemon
    ran); this run publishes Sales as `never`, and the gosub must not record her call."""
    rig = harness(tmp_path)
    rig.pbx.globals.update({"CTI_RECORD_GEN": "0ld", "CTI_RECORD_D_442079461001": "always@0ld"})
    await rig.service.start(sweep_every_s=3600)
    await rig.service.set_policy(SAM, "Sales", {"policy": "never"})
    assert rig.pbx.globals["CTI_RECORD_GEN"] == rig.service.generation
    sent = [s[1] for s in rig.pbx.sent if s[0] == "global"]
    assert sent[-1] == "CTI_RECORD_GEN"  # last: until then the earlier run's values count
    assert not rig.pbx.records("442079461001", "", "lab-trunk", "PJSIP/1001")
    rig.replay("direct_answered")
    await rig.service.close()
    assert await rig.service.of_call(SAM, "lab:1795309435.2") == []
    rig.store.close()


async def test_an_agent_leg_that_started_recording_is_kept_under_the_gosub_s_name(
    tmp_path: Path,
) -> None:
    rig = harness(tmp_path)
    await rig.service.start(sweep_every_s=3600)
    await rig.service.set_policy(SAM, "Sales", {"policy": "always"})
    assert rig.pbx.globals["CTI_RECORD_A_1001"] == f"always@{rig.service.generation}"
    rig.replay("direct_answered")
    await rig.service.close()
    [row] = await rig.service.of_call(SAM, "lab:1795309435.2")
    assert row.id == "rec-1795309435-2-1795309435-3" and row.agent == "alice"
    assert not any(s[0] == "setvar" for s in rig.pbx.sent)  # nothing sent to the ringing leg
    assert [(a, d["event"]) for a, d in rig.told.got] == [("alice", "started"), ("alice", "ended")]
    rig.store.close()


async def test_on_demand_the_recording_is_held_and_never_is_not_recorded(tmp_path: Path) -> None:
    rig = harness(tmp_path)
    await rig.service.start(sweep_every_s=3600)
    await rig.service.set_policy(SAM, "Sales", {"policy": "demand"})
    rig.replay("direct_answered")
    await rig.service.close()
    held = [s for s in rig.pbx.sent if s[0] in ("mute", "setvar")]
    assert held == [  # muted first, then the gosub is let go: nothing is heard before
        ("mute", "PJSIP/1001-00000003", True),
        ("setvar", "PJSIP/1001-00000003", "CTI_RECORD_HELD", "1"),
    ]
    [row] = await rig.service.of_call(SAM, "lab:1795309435.2")
    assert row.pauses and row.pauses[0][0] == 0.0

    never = harness(tmp_path / "never")
    await never.service.start(sweep_every_s=3600)
    await never.service.set_policy(SAM, "Sales", {"policy": "never"})
    never.replay("direct_answered")
    await never.service.close()
    assert await never.service.of_call(SAM, "lab:1795309435.2") == []
    assert not any(s[0] in ("mute", "setvar") for s in never.pbx.sent)
    rig.store.close()
    never.store.close()


async def test_a_policy_saved_while_the_pbx_is_down_is_published_when_it_is_back(
    tmp_path: Path,
) -> None:
    """Saving never fails for a PBX that is away (it used to answer 502 after saving); the next
    pass sends what it missed, and a policy removed meanwhile is still cleared there."""
    rig = harness(tmp_path)
    await rig.service.start(sweep_every_s=3600)
    await rig.service.set_policy(SAM, "Sales", {"policy": "always"})
    rig.pbx.down = True
    saved = await rig.service.set_policy(SAM, "Sales", {"policy": "never"})
    assert str(saved.policy) == "never" and rig.service.policy("Sales") == saved
    assert rig.pbx.globals["CTI_RECORD_Q_sales"] == f"always@{rig.service.generation}"
    rig.pbx.down = False
    await rig.service.publish()
    assert rig.pbx.globals["CTI_RECORD_Q_sales"] == f"never@{rig.service.generation}"
    await rig.service.close()
    rig.store.close()
