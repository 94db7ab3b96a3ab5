"""The pop service fed by the tracker on real lab transcripts, with the built-in CRM on SQLite.

The sinks are small recording classes, not mocks: they store what the service hands them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from crm_connectors.base import LookupOptions, LookupResult
from crm_connectors.builtin import BuiltinCrm, seed_demo, upgrade
from cti.core.records import CallRecord, Outcome
from cti.pop.directory import Directory, GroupConfig
from cti.pop.service import PopService
from tests.transcript import frames, replay_paced, updates_of

OWNERS = {"PJSIP/1001": ("alice",), "PJSIP/1002": ("bob",), "PJSIP/1003": ("carol",)}


class Notifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, dict[str, object]]] = []

    def pop(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self.sent.append(("pop", agent, html, data))

    def pop_update(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self.sent.append(("pop_update", agent, html, data))

    def pop_dismissed(self, agent: str, call_id: str, reason: str) -> None:
        self.sent.append(("pop_dismissed", agent, reason, {}))

    def call_state(self, agent: str, call_id: str, state: str, detail: dict[str, object]) -> None:
        self.sent.append(("call_state", agent, state, detail))

    def kinds(self, agent: str) -> list[tuple[str, str]]:
        return [
            (kind, text if kind != "pop" else "")
            for kind, who, text, _ in self.sent
            if who == agent
        ]


class Records:
    def __init__(self) -> None:
        self.ended: list[CallRecord] = []
        self.wrapups: list[int | None] = []
        self.notes: dict[str, str] = {}

    async def notes_for(self, call_id: str) -> str:
        return self.notes.get(call_id, "")

    async def end_call(self, record: CallRecord, wrapup_s: int | None = None) -> None:
        self.ended.append(record)
        self.wrapups.append(wrapup_s)


class SlowCrm:
    """The built-in CRM behind a delay, as a CRM under load would be."""

    def __init__(self, inner: BuiltinCrm, delay: float) -> None:
        self.name, self._inner, self._delay = inner.name, inner, delay

    async def lookup(self, number: str, options: LookupOptions) -> LookupResult:
        await asyncio.sleep(self._delay)
        return await self._inner.lookup(number, options)


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[BuiltinCrm]:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    upgrade(url)
    seed_demo(url, "GB")
    async with BuiltinCrm.from_url(url, default_region="GB") as connector:
        yield connector


def service(
    crm: object,
    notifier: Notifier,
    records: Records,
    lookup_took: Callable[[float], None] | None = None,
    **kw: object,
) -> PopService:
    directory = Directory(endpoint_owners=OWNERS, **kw)  # type: ignore[arg-type]
    return PopService(
        crm,  # type: ignore[arg-type]
        lambda: directory,
        notifier,
        records,
        default_region="GB",
        lookup_timeout_s=0.3,
        lookup_took=lookup_took,
    )


async def replay(pops: PopService, name: str) -> None:
    """Replay at 4x the recorded pace: a 1 s ring still outlasts the CRM lookup, as live."""
    await replay_paced(name, pops.handle, speed=4.0)
    await pops.close()


async def test_ringall_pops_both_agents_and_dismisses_the_one_who_did_not_answer(
    crm: BuiltinCrm,
) -> None:
    notifier, records = Notifier(), Records()
    pops = service(crm, notifier, records)
    await replay(pops, "queue_ringall_second_answers")

    assert notifier.kinds("alice") == [("pop", ""), ("pop_dismissed", "answered_elsewhere")]
    assert notifier.kinds("bob") == [
        ("pop", ""),
        ("call_state", "answered"),
        ("call_state", "ended"),
    ]
    assert not notifier.kinds("carol")
    _, _, html, data = notifier.sent[0]
    assert "Alice Archer" in html and "Globex Corporation" in html and "CS-1001" in html
    assert data["match_count"] == "one" and data["lookup"] == "done"
    assert 'class="dial" data-number="+442079460001"' in html

    [record] = records.ended
    assert record.outcome is Outcome.ANSWERED
    assert record.answered_by == "bob"
    assert set(record.agents_rung) == {"alice", "bob"}
    assert [m.record_id for m in record.matches]  # the matched contact travels with the record


async def test_a_slow_crm_does_not_hold_the_pop_back(crm: BuiltinCrm) -> None:
    notifier, records, took = Notifier(), Records(), list[float]()
    pops = service(SlowCrm(crm, delay=0.6), notifier, records, took.append)  # timeout is 0.3 s
    updates, _ = updates_of(frames("direct_answered"))
    started, rang = updates[0], updates[1]
    pops.handle(started)
    pops.handle(rang)
    await asyncio.sleep(0.45)
    assert [k for k, who, *_ in notifier.sent] == ["pop"]
    assert notifier.sent[0][3]["lookup"] == "pending"  # caller id only, past the timeout
    await asyncio.sleep(0.4)
    kind, _, html, data = notifier.sent[-1]
    assert (kind, data["lookup"]) == ("pop_update", "done")
    assert "Alice Archer" in html
    assert len(took) == 1 and took[0] >= 0.6  # the metrics see the lookup's whole time
    for update in updates[2:]:
        pops.handle(update)
    await pops.close()
    assert len(records.ended) == 1


async def test_group_template_by_did_and_fallback_when_it_breaks(crm: BuiltinCrm) -> None:
    notifier, records = Notifier(), Records()
    groups = {
        "vip": GroupConfig("vip", template="<b>VIP {{ call.caller_number }}</b>"),
        "broken": GroupConfig("broken", template="{{ no_such_name }}"),
    }
    pops = service(crm, notifier, records, groups=groups, did_groups={"442079461001": "vip"})
    await replay(pops, "direct_answered")
    assert notifier.sent[0][2] == "<b>VIP +442079460001</b>"

    notifier2 = Notifier()
    pops = service(crm, notifier2, records, groups=groups, did_groups={"442079461001": "broken"})
    await replay(pops, "direct_answered")
    assert "Alice Archer" in notifier2.sent[0][2]  # the default template stood in
    assert pops.template_failures and pops.template_failures[0][0] == "broken"


async def test_the_record_waits_for_the_wrap_up_of_the_answering_agents_group(
    crm: BuiltinCrm,
) -> None:
    """The wrap-up comes from the in-memory directory, so the store need not look it up."""
    records = Records()
    groups = {"vip": GroupConfig("vip", wrapup_seconds=45, wrapup_applies_to="all")}
    pops = service(crm, Notifier(), records, groups=groups, did_groups={"442079461001": "vip"})
    await replay(pops, "direct_answered")
    await replay(service(crm, Notifier(), records), "direct_not_answered")
    assert records.wrapups == [45, 0]  # nobody answered the second: nothing to wait for
    queue_only = {"vip": GroupConfig("vip", wrapup_seconds=45)}  # the default: queue calls
    pops = service(crm, Notifier(), records, groups=queue_only, did_groups={"442079461001": "vip"})
    await replay(pops, "direct_answered")
    assert records.wrapups == [45, 0, 0]  # a direct call has no wrap-up: nothing to wait for


async def test_a_trunks_default_group_pops_calls_whose_did_has_none(crm: BuiltinCrm) -> None:
    """The admin console maps a trunk to a default group; a DID's own group still wins."""
    groups = {
        "carrier": GroupConfig(
            "carrier", template="<i>via the carrier</i>", wrapup_seconds=20, wrapup_applies_to="all"
        ),
        "vip": GroupConfig("vip", template="<b>VIP</b>"),
    }
    trunk = {("lab", "lab-trunk"): "carrier"}
    notifier, records = Notifier(), Records()
    await replay(
        service(crm, notifier, records, groups=groups, trunk_groups=trunk), "direct_answered"
    )
    assert notifier.sent[0][2] == "<i>via the carrier</i>"
    assert records.wrapups == [20]

    notifier = Notifier()
    did = {"442079461001": "vip"}
    pops = service(crm, notifier, records, groups=groups, trunk_groups=trunk, did_groups=did)
    await replay(pops, "direct_answered")
    assert notifier.sent[0][2] == "<b>VIP</b>"


async def test_blind_transfer_moves_the_pop_and_the_notes(crm: BuiltinCrm) -> None:
    notifier, records = Notifier(), Records()
    pops = service(crm, notifier, records)
    updates, _ = updates_of(frames("blind_transfer"))
    records.notes[updates[0].call.call_id] = "Wants a refund for invoice 4471"
    for update in updates:
        pops.handle(update)
        await asyncio.sleep(0.01)
    await pops.close()
    assert ("call_state", "transferred") in notifier.kinds("alice")
    bob = [(kind, data) for kind, who, _, data in notifier.sent if who == "bob"]
    assert bob[0][0] == "pop"
    assert any(d.get("notes") == "Wants a refund for invoice 4471" for _, d in bob)
    [record] = records.ended
    assert record.answered_by == "bob"


async def test_abandoned_queue_call_dismisses_every_pop_and_writes_one_record(
    crm: BuiltinCrm,
) -> None:
    notifier, records = Notifier(), Records()
    pops = service(crm, notifier, records)
    await replay(pops, "queue_abandoned")
    assert notifier.kinds("alice")[-1] == ("pop_dismissed", "abandoned")
    assert notifier.kinds("bob")[-1] == ("pop_dismissed", "abandoned")
    [record] = records.ended
    assert record.outcome is Outcome.ABANDONED
