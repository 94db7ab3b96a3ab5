"""The call record carries links to the call's recordings: the recording service names the
ringing leg, the pop service asks for the links as the call ends (as the root wires them), and
the record handed to the store holds one absolute link per recorded leg; a group that is never
recorded gets none. Fed by the recorded lab transcript of a direct call answered by alice."""

from __future__ import annotations

from pathlib import Path

from crm_connectors.base import LookupOptions, LookupResult
from cti.core.records import CallRecord
from cti.pop.service import PopService
from cti.principal import Principal, Role
from tests.recording.harness import DIRECTORY, harness

SAM = Principal("sam", "Sam", Role.SUPERVISOR)


class NoMatchCrm:
    name = "builtin"

    async def lookup(self, number: str, options: LookupOptions) -> LookupResult:
        return LookupResult(number, None)


class Records:
    def __init__(self) -> None:
        self.ended: list[CallRecord] = []

    async def notes_for(self, call_id: str) -> str:
        return ""

    async def end_call(self, record: CallRecord, wrapup_s: int | None = None) -> None:
        self.ended.append(record)


class Quiet:
    def pop(self, *args: object) -> None: ...
    def pop_update(self, *args: object) -> None: ...
    def pop_dismissed(self, *args: object) -> None: ...
    def call_state(self, *args: object) -> None: ...


async def record_of(tmp_path: Path, policy: str) -> tuple[CallRecord, list[str]]:
    rig = harness(tmp_path)
    await rig.service.start(sweep_every_s=3600)
    await rig.service.set_policy(SAM, "Sales", {"policy": policy})
    records = Records()
    pops = PopService(
        NoMatchCrm(),  # type: ignore[arg-type]
        lambda: DIRECTORY,
        Quiet(),  # type: ignore[arg-type]
        records,
        default_region="GB",
        lookup_timeout_s=0.3,
    )
    pops.recordings_from(rig.service.links_of)
    rig.replay("direct_answered", pops.handle)
    await pops.close()
    await rig.service.close()
    found = await rig.service.of_call(SAM, records.ended[0].call_id)
    rig.store.close()
    [record] = records.ended
    return record, [row.id for row in found]


async def test_an_always_recorded_call_s_record_links_its_recording(tmp_path: Path) -> None:
    record, stored = await record_of(tmp_path, "always")
    assert len(stored) == 1
    assert record.recordings == (f"https://cti.example.com/api/recordings/{stored[0]}",)


async def test_a_call_of_a_group_never_recorded_has_no_link(tmp_path: Path) -> None:
    record, stored = await record_of(tmp_path, "never")
    assert stored == [] and record.recordings == ()
