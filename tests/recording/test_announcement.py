"""The announcement setting: checked as a sound name, stored with the policy, and published as
dialplan globals per queue and agent extension (only changes; cleared when the group stops
recording), which the caller's cti-announce gosub reads before anything rings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.errors import ValidationFailed
from cti.principal import Principal, Role
from cti.recording.rows import GroupPolicy
from tests.recording.harness import harness

SAM = Principal("sam", "Sam", Role.SUPERVISOR)


@pytest.mark.parametrize("sound", ["../etc/passwd", "beep.gsm", "/tmp/x", "a/b/c", "Beep", 7])
def test_an_announcement_is_a_sound_name_only(sound: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        GroupPolicy.parse("Sales", {"policy": "always", "announcement": sound})
    assert refused.value.details == {"field": "announcement"}


def announced(sent: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """The announcement globals among what was sent (the policies go with them)."""
    return sorted(s for s in sent if str(s[1]).startswith("CTI_ANNOUNCE_"))


async def test_announcements_are_published_per_queue_and_extension(tmp_path: Path) -> None:
    rig = harness(tmp_path)
    await rig.service.set_policy(SAM, "Sales", {"policy": "always", "announcement": "beep"})
    assert announced(rig.pbx.sent) == [
        ("global", "CTI_ANNOUNCE_1001", "beep"),
        ("global", "CTI_ANNOUNCE_1002", "beep"),
        ("global", "CTI_ANNOUNCE_sales", "beep"),
        ("global", "CTI_ANNOUNCE_support", ""),
    ]
    rig.pbx.sent.clear()
    await rig.service.set_policy(SAM, "Sales", {"policy": "always", "announcement": "beep"})
    assert rig.pbx.sent == []  # nothing changed, nothing sent
    await rig.service.set_policy(SAM, "Sales", {"policy": "never", "announcement": "beep"})
    assert announced(rig.pbx.sent) == [
        ("global", "CTI_ANNOUNCE_1001", ""),
        ("global", "CTI_ANNOUNCE_1002", ""),
        ("global", "CTI_ANNOUNCE_sales", ""),
    ]
    await rig.service.start(sweep_every_s=3600)
    await rig.service.close()
    assert rig.service.policy("Sales").announcement == "beep"  # stored, read back at start
    rig.store.close()
