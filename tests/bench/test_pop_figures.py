"""How the pop bench turns its processes' records into figures (sip_tests.bench.pop), on files it
would have written: the replayer's triggers, the clients' pops, CPU samples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sip_tests.bench.pop import _busiest_client, _cpu_between, _daemon_cpu, _Phase, _Run, _sample
from sip_tests.bench.site import Site


def _run(tmp_path: Path) -> _Run:
    site = Site(tmp_path / "site", agents=4, contacts=10, secret="s")
    return _Run(tmp_path / "run", site, [_Phase(10.0, 5), _Phase(100.0, 5)], floor=False)


def _lines(path: Path, rows: list[list[object]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_latency_is_the_first_pop_after_the_event_that_rang_that_agent(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _lines(
        run.work / "triggers.jsonl",
        [
            [10.000, "1700000000.0", "PJSIP/b0000", 0],  # AgentCalled rings b0000
            [10.001, "1700000000.0", "PJSIP/b0000", 0],  # its DialBegin: not a second trigger
            [10.002, "1700000000.0", "PJSIP/b0001", 0],
            [20.000, "1700000009.0", "PJSIP/b0002", 1],
        ],
    )
    _lines(
        run.work / "pops-0.jsonl",
        [
            [10.004, 0, "bench:1700000000.0", 1700, False],
            [10.050, 0, "bench:1700000000.0", 1800, False],  # a later pop of the same call
            [10.012, 1, "bench:1700000000.0", 1750, True],  # went out before the CRM answered
            [20.003, 2, "bench:1700000009.0", 1760, False],
            [30.000, 3, "bench:1700000077.0", 1000, False],  # no trigger: not a latency
        ],
    )
    pops = run.latencies()

    assert pops.latency[0] == pytest.approx([0.004, 0.010])
    assert pops.latency[1] == pytest.approx([0.003])
    assert sorted(pops.sizes) == [1000, 1700, 1750, 1760]
    assert pops.pending == {0: 1, 1: 0}
    assert pops.late == {} and pops.missing == {}


def test_a_pop_read_after_the_window_is_late_and_a_ring_never_popped_is_missing(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path)
    _lines(
        run.work / "triggers.jsonl",
        [
            [10.000, "1700000000.0", "PJSIP/b0000", 1],
            [10.001, "1700000000.0", "PJSIP/b0001", 1],
            [10.002, "1700000001.0", "PJSIP/b0002", 1],
        ],
    )
    _lines(
        run.work / "pops-0.jsonl",
        [
            [10.010, 0, "bench:1700000000.0", 1700, False],
            [14.501, 1, "bench:1700000000.0", 1700, True],  # after the window closed at 14.0
        ],
    )
    pops = run.latencies(window_end=14.0)

    assert pops.latency == {1: pytest.approx([0.010])}
    assert pops.late == {1: pytest.approx([4.5])}
    assert pops.pending == {1: 0}  # counted among the pops in the window only
    assert pops.missing == {1: [("1700000001.0", "PJSIP/b0002")]}


def test_frames_are_counted_by_type_over_every_client_process(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (run.work / "pops-0.jsonl.types").write_text(json.dumps({"pop": [2, 3000], "hello": [5, 10]}))
    (run.work / "pops-500.jsonl.types").write_text(json.dumps({"pop": [1, 1000]}))
    assert run.frame_counts() == {"pop": [3, 4000], "hello": [5, 10]}


def test_cpu_of_a_phase_comes_from_the_samples_around_it() -> None:
    samples = [
        (0.0, {"server": 1.0, "client-0": 0.1, "client-1": 0.0}),
        (1.0, {"server": 1.5, "client-0": 0.2, "client-1": 0.0}),
        (2.0, {"server": 2.5, "client-0": 0.5, "client-1": 0.4}),
        (3.0, {"server": 3.0, "client-0": 0.6, "client-1": 0.4}),
    ]
    assert _cpu_between(samples, "server", 1.0, 2.0) == pytest.approx(1.0)
    assert _cpu_between(samples, "loop", 1.0, 2.0) is None  # never sampled
    # over 1 s, client-0 used 0.3 s and client-1 0.4 s of CPU: the busiest used 40% of a core
    assert _busiest_client(samples, 1.0, 2.0) == pytest.approx(0.4)


def test_the_figures_of_some_agents_only(tmp_path: Path) -> None:
    """The cluster bench splits its pops: agents on the AMI owner, agents on the other nodes."""
    run = _run(tmp_path)
    _lines(
        run.work / "triggers.jsonl",
        [
            [10.000, "1700000000.0", "PJSIP/b0000", 0],
            [10.001, "1700000000.0", "PJSIP/b0001", 0],
            [10.002, "1700000001.0", "PJSIP/b0003", 0],
        ],
    )
    _lines(run.work / "pops-0.jsonl", [[10.010, 0, "bench:1700000000.0", 1700, False]])
    odd = run.latencies(agents=lambda i: i % 2 == 1)
    even = run.latencies(agents=lambda i: i % 2 == 0)
    assert odd.latency == {} and even.latency == {0: pytest.approx([0.010])}
    assert odd.missing == {0: [("1700000000.0", "PJSIP/b0001"), ("1700000001.0", "PJSIP/b0003")]}
    assert even.missing == {}


def test_cpu_per_event_and_its_kernel_part() -> None:
    """The daemon's (or the floor relay's) CPU per event of a phase, all threads, its loop's,
    how busy the loop was, and the kernel's part: 2,000 events over 1 s."""
    samples = [
        (0.0, {"server": 1.0, "server-kernel": 0.2, "loop": 0.5}),
        (1.0, {"server": 1.6, "server-kernel": 0.3, "loop": 0.9}),
    ]
    run = {"phases": [{"start": 0.0, "end": 1.0, "events": 2000}], "cpu": samples}
    cpu, loop, busy, kernel = _daemon_cpu(run, 0) or (0, 0, 0, 0)
    assert (cpu, loop, busy, kernel) == pytest.approx((300.0, 200.0, 40.0, 50.0))


def test_the_kernel_role_samples_system_time_alone() -> None:
    busy_user = sum(range(3_000_000))  # user time for this process, no system time to speak of
    assert busy_user > 0
    both = _sample({"server": (os.getpid(), None), "server-kernel": (os.getpid(), None)})
    assert 0 <= both["server-kernel"] < both["server"]
