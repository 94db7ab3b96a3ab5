"""``cti bench pop --holds``: a process started with :func:`holds_env` times its event loop's
callbacks and writes the long ones at exit, by kind (a real Python subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sip_tests.bench.holds import add_hold_rows, holds_env, read_holds
from sip_tests.bench.results import Report

PROGRAM = textwrap.dedent(
    """
    import asyncio, time

    def hold():
        time.sleep(0.006)  # a callback holding the loop 6 ms

    async def stepper():
        for _ in range(3):
            time.sleep(0.003)  # each step of this task holds it 3 ms
            await asyncio.sleep(0)

    async def main():
        asyncio.get_running_loop().call_soon(hold)
        await asyncio.create_task(stepper(), name="stepper")
        await asyncio.sleep(0.01)

    asyncio.run(main())
    """
)


def test_the_callbacks_that_held_the_loop_are_written_by_kind(tmp_path: Path) -> None:
    out = tmp_path / "holds"
    env = {**os.environ, **holds_env(out)}
    with subprocess.Popen([sys.executable, "-c", PROGRAM], env=env) as proc:
        assert proc.wait(timeout=60) == 0
    holds = read_holds(out, proc.pid)
    hold = holds["hold"]
    assert (hold["count"], hold["over_5ms"]) == (1, 1) and hold["max_s"] >= 0.006
    assert hold["cpu_s"] < 0.003  # it slept: the loop's thread waited, it did not compute
    [stepper] = [row for kind, row in holds.items() if kind.startswith("task stepper:")]
    assert stepper["over_2ms"] == 3 and stepper["over_5ms"] == 0
    report = Report("pop", True)
    add_hold_rows(report, "100 agents", holds)
    assert [f.value for f in report.figures][:2] == [3, 1]  # most holds over 2 ms first
