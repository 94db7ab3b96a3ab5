"""Published group templates in the pop service: one layout per group by DID, the trigger, and
the default template standing in (within the render limit) when a template runs away."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_connectors.builtin import BuiltinCrm, seed_demo, upgrade
from cti.pop.directory import Directory, GroupConfig
from cti.pop.service import PopService
from cti.pop.versions import PopSettings, published_source
from tests.pop.test_pop_service import OWNERS, Notifier, Records
from tests.transcript import replay_paced

DID_ALICE = "442079461001"  # the direct_answered transcript: a call to alice's DID


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[BuiltinCrm]:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    upgrade(url)
    seed_demo(url, "GB")
    async with BuiltinCrm.from_url(url, default_region="GB") as connector:
        yield connector


def group(name: str, source: str | None, **settings: object) -> GroupConfig:
    popped = PopSettings.from_json(settings)
    return GroupConfig(
        name,
        template=published_source(source, popped),
        trigger=popped.trigger,
        dispositions=popped.dispositions,
    )


async def run(crm: BuiltinCrm, config: GroupConfig) -> tuple[PopService, Notifier, list[tuple]]:
    notifier, failures = Notifier(), []
    directory = Directory(
        endpoint_owners=OWNERS, groups={config.name: config}, did_groups={DID_ALICE: config.name}
    )
    pops = PopService(
        crm,
        lambda: directory,
        notifier,
        Records(),
        default_region="GB",
        lookup_timeout_s=0.3,
        on_template_failure=lambda *failure: failures.append(failure),
    )
    await replay_paced("direct_answered", pops.handle, speed=4.0)
    await pops.close()
    return pops, notifier, failures


async def test_each_group_pops_with_its_own_layout(crm: BuiltinCrm) -> None:
    _, a, _ = await run(crm, group("A", '<p class="layout-a">{{ call.caller_number }}</p>'))
    _, b, _ = await run(
        crm, group("B", None, layout={"none": "caller_only", "one": "compact", "several": "picker"})
    )
    assert a.sent[0][0] == "pop" and a.sent[0][2] == '<p class="layout-a">+442079460001</p>'
    assert b.sent[0][0] == "pop" and "layout-compact" in b.sent[0][2]
    assert "Alice Archer" in b.sent[0][2] and "Open cases" not in b.sent[0][2]


async def test_the_answered_trigger_pops_on_answer(crm: BuiltinCrm) -> None:
    _, ringing, _ = await run(crm, group("R", None))
    _, answered, _ = await run(crm, group("A", None, trigger="answered"))
    assert ringing.kinds("alice")[:2] == [("pop", ""), ("call_state", "answered")]
    assert answered.kinds("alice")[0] == ("pop", "")
    assert ("call_state", "answered") not in answered.kinds("alice")  # it popped on answer
    assert answered.sent[0][3]["call"]["state"] == "answered"  # type: ignore[index]


@pytest.mark.parametrize(
    "source",
    [
        "{% for a in range(1000) %}{% for b in range(1000) %}{{ b }}{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{{ 'x' * 200000 }}{% endfor %}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    ],
    ids=["endless-loop", "huge-output", "class-walk"],
)
async def test_a_runaway_template_falls_back_to_the_default(crm: BuiltinCrm, source: str) -> None:
    started = time.perf_counter()
    pops, notifier, failures = await run(crm, group("runaway", source))
    kind, agent, html, _ = notifier.sent[0]
    assert (kind, agent) == ("pop", "alice")
    assert "Alice Archer" in html and 'class="dial"' in html  # the default card
    assert failures and failures[0][0] == "runaway" and failures[0][2].startswith("lab:")
    assert pops.template_failures[0][0] == "runaway"
    assert time.perf_counter() - started < 10  # the transcript itself takes a few seconds
