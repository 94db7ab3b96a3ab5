"""The regression guard of issue 20: what one call costs, counted, never timed.

A recorded lab call goes through the real daemon (:mod:`tests.perf.call_cost`): read path, pop
service, hub, record writer, outbox delivery to the built-in CRM, live-call journal, missed
calls, report facts. The SQL statements every engine executed, the transactions they ran in and
the frames each agent's tab received must not exceed ``budget.json``. A change that adds a
statement or a frame per call fails here on any machine, however fast.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.perf.call_cost import CallCost, measure_call

BUDGET = json.loads((Path(__file__).parent / "budget.json").read_text())


def _over(cost: CallCost, budget: dict[str, object]) -> list[str]:
    """Every figure of ``cost`` above its budget, said so a reader can act on it."""
    problems = []
    if cost.sql > budget["sql_statements"]:  # type: ignore[operator]
        problems.append(f"{cost.sql} SQL statements > {budget['sql_statements']}")
    if cost.transactions > budget["transactions"]:  # type: ignore[operator]
        problems.append(f"{cost.transactions} transactions > {budget['transactions']}")
    frames: dict[str, int] = budget["frames"]  # type: ignore[assignment]
    for agent, allowed in frames.items():
        if cost.frames_of(agent) > allowed:
            problems.append(f"{agent}: {cost.frames_of(agent)} frames > {allowed}")
    return problems


@pytest.mark.parametrize("transcript", ["direct_answered", "queue_ringall_second_answers"])
async def test_a_call_costs_no_more_statements_or_frames_than_committed(
    tmp_path: Path, transcript: str
) -> None:
    cost = await measure_call(tmp_path, transcript)
    budget = BUDGET[transcript]
    report = (
        f"{transcript}: {cost.sql} statements in {cost.transactions} transactions "
        f"{dict(sorted(cost.statements.items()))}; frames "
        f"{ {a: dict(c) for a, c in cost.frames.items()} }"
    )
    print(report)
    assert not _over(cost, budget), f"{_over(cost, budget)}\n{report}"
    assert cost.frames_of("alice") + cost.frames_of("bob") > 0, "no frame reached a tab"
    assert cost.statements["INSERT outbox"] == 1, "the call's record was not queued once"


def test_the_guard_fails_a_call_that_costs_more() -> None:
    """The guard itself: one statement or one frame over the budget is reported."""
    budget = BUDGET["direct_answered"]
    cost = CallCost(transactions=budget["transactions"])
    cost.statements["SELECT outbox"] = budget["sql_statements"] + 1
    cost.frames["alice"] = Counter(pop=budget["frames"]["alice"] + 1)
    assert _over(cost, budget) == [
        f"{budget['sql_statements'] + 1} SQL statements > {budget['sql_statements']}",
        f"alice: {budget['frames']['alice'] + 1} frames > {budget['frames']['alice']}",
    ]
