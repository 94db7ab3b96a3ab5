"""One group's template running to its limit for a caller does not hold up other groups' pops.

The pop service renders for real (the production renderer and limits); the CRM answers at
once and the notifier stamps when each pop reaches it. Fast calls are scheduled on the event
loop at fixed times, so a loop held by a render shows as pops arriving late.
"""

from __future__ import annotations

import asyncio
import time

from crm_connectors.base import LookupOptions, LookupResult
from cti.core.events import Party
from cti.core.records import CallRecord, Direction
from cti.core.updates import AgentRang, CallStarted, CallState, CallView
from cti.pop.directory import Directory, GroupConfig
from cti.pop.service import PopService

# Passes the publish samples; for a caller whose number ends in 99, ~10^6 upper-casings of a
# 200,000-character string: it runs until the render's time limit stops it.
SLOW = (
    "<p>slow {{ call.caller_number }}</p>"
    "{% if call.caller_number.endswith('99') %}{% set big = 'x' * 200000 %}"
    "{% for i in range(1000) %}{% for j in range(1000) %}{% if big.upper() %}{% endif %}"
    "{% endfor %}{% endfor %}{% endif %}"
)
FAST_DID, SLOW_DID = "442079461001", "442079461002"
DIRECTORY = Directory(
    endpoint_owners={"PJSIP/1001": ("alice",), "PJSIP/1002": ("bob",)},
    groups={
        "fast": GroupConfig("fast", template="<p>fast {{ call.caller_number }}</p>"),
        "slow": GroupConfig("slow", template=SLOW),
    },
    did_groups={FAST_DID: "fast", SLOW_DID: "slow"},
)


class InstantCrm:
    name = "instant"

    async def lookup(self, number: str, options: LookupOptions) -> LookupResult:
        return LookupResult(number, number)


class StampingNotifier:
    def __init__(self, expected: int) -> None:
        self.pops: dict[str, tuple[float, str, str]] = {}  # call id -> (when, agent, html)
        self.expected, self.all_in = expected, asyncio.Event()

    def pop(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        self.pops[call_id] = (time.monotonic(), agent, html)
        if len(self.pops) >= self.expected:
            self.all_in.set()

    def pop_update(self, agent: str, call_id: str, html: str, data: dict[str, object]) -> None:
        pass

    def pop_dismissed(self, agent: str, call_id: str, reason: str) -> None:
        pass

    def call_state(self, agent: str, call_id: str, state: str, detail: dict[str, object]) -> None:
        pass


class NoRecords:
    async def notes_for(self, call_id: str) -> str:
        return ""

    async def end_call(self, record: CallRecord, wrapup_s: int | None = None) -> None:
        pass


def ring(pops: PopService, call_id: str, did: str, number: str, endpoint: str) -> None:
    view = CallView(
        call_id=call_id,
        server="test",
        direction=Direction.INBOUND,
        state=CallState.RINGING,
        caller=Party(number, "Caller"),
        called_number=did,
        did=did,
        trunk="trunk",
        queue=None,
        started_at=time.time(),
        answered_at=None,
        agent=None,
        ringing=(endpoint,),
        transferred_from=None,
        originate_id=None,
        flags=(),
    )
    pops.handle(CallStarted(view))
    pops.handle(AgentRang(view, endpoint, time.time()))


async def test_a_slow_template_does_not_delay_another_groups_pops() -> None:
    notifier, failures = StampingNotifier(expected=26), []
    pops = PopService(
        InstantCrm(),  # type: ignore[arg-type]
        lambda: DIRECTORY,
        notifier,
        NoRecords(),
        default_region="GB",
        lookup_timeout_s=1.0,
        on_template_failure=lambda *failure: failures.append(failure),
    )
    pops.compile_templates(DIRECTORY)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    loop.call_at(start, ring, pops, "slow-1", SLOW_DID, "+442079460099", "PJSIP/1002")
    due = {f"fast-{n}": start + 0.005 + n * 0.01 for n in range(25)}  # during the slow render
    for call_id, at in due.items():
        loop.call_at(at, ring, pops, call_id, FAST_DID, "+442079460001", "PJSIP/1001")
    async with asyncio.timeout(30):  # the slow group's pop waits for a worker to start
        await notifier.all_in.wait()
    await pops.close()

    # loop.time() is time.monotonic() on the default loop: the notifier's clock.
    late = sorted(notifier.pops[c][0] - at for c, at in due.items())
    assert len(late) == len(due)
    assert late[int(len(late) * 0.9)] < 0.05, f"other group's pops waited {late[-5:]} s"
    # The slow group still gets its pop: the default card, and supervisors are told why.
    _, agent, html = notifier.pops["slow-1"]
    assert agent == "bob" and "slow +442079460099" not in html and 'class="dial"' in html
    assert [(group, call) for group, _, call in failures] == [("slow", "slow-1")]
