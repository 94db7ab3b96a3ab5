"""``cti bench ...``: run a benchmark, print its table, save its JSON under bench-results/."""

from __future__ import annotations

from collections.abc import Callable

import click

from sip_tests.bench.results import Report

__all__ = ["bench"]


def _emit(report: Report) -> None:
    click.echo(report.table())
    click.echo(f"saved {report.save()}")


_QUICK = click.option("--quick", is_flag=True, help="The short version (under a minute).")


@click.group()
def bench() -> None:
    """Benchmarks: each prints its figures beside a floor measured in the same run."""


def _command(name: str, run: Callable[[bool], Report], help_text: str) -> None:
    @bench.command(name, help=help_text)
    @_QUICK
    def command(quick: bool) -> None:
        _emit(run(quick))


def _ingest(quick: bool) -> Report:
    from sip_tests.bench.ingest import run_ingest  # noqa: PLC0415 (each bench imports what it needs)

    return run_ingest(quick=quick)


def _crm(quick: bool) -> Report:
    from sip_tests.bench.crm import run_crm  # noqa: PLC0415

    return run_crm(quick=quick)


def _memory(quick: bool) -> Report:
    from sip_tests.bench.memory import run_memory  # noqa: PLC0415

    return run_memory(quick=quick)


_command("ingest", _ingest, "AMI events/s per core through framer, normalizer and tracker.")
_command("crm", _crm, "CRM caller-ID lookups on SQLite and PostgreSQL (100k to 10M contacts).")
_command("memory", _memory, "Resident memory per connected agent (1,000 and 5,000 agents).")


@bench.command("pop", help="Pop latency from the AMI event to the agent's websocket, under load.")
@_QUICK
@click.option(
    "--with-reports",
    is_flag=True,
    help="Also run the product while supervisors read reports from a store holding a year of "
    "calls and their buckets, and print each latency and the daemon's CPU per event both ways.",
)
@click.option(
    "--readers",
    type=click.IntRange(min=1),
    default=None,
    help="With --with-reports: how many report requests are in flight at once (default 2).",
)
@click.option(
    "--report-worker",
    type=click.Choice(["process", "inline"]),
    default=None,
    help="With --with-reports: where the daemon answers them ([reports] worker; default its own).",
)
@click.option(
    "--holds",
    is_flag=True,
    help="Also time every callback of the daemon's event loop and print the kinds that held "
    "it longest (callbacks over 2 ms, over 5 ms, the longest).",
)
def _pop(
    quick: bool, with_reports: bool, readers: int | None, report_worker: str | None, holds: bool
) -> None:
    from sip_tests.bench.pop import run_pop  # noqa: PLC0415

    if (readers is not None or report_worker is not None) and not with_reports:
        raise click.UsageError("--readers and --report-worker are about reports: --with-reports")
    loops = (readers or 2) if with_reports else 0
    _emit(run_pop(quick=quick, report_readers=loops, report_worker=report_worker, holds=holds))


def _slow_template(quick: bool) -> Report:
    from sip_tests.bench.slow_template import run_slow_template  # noqa: PLC0415

    return run_slow_template(quick=quick)


_command(
    "slow-template",
    _slow_template,
    "Other groups' pop latency while one group's template runs to its limit.",
)


def _ring(quick: bool) -> Report:
    from cti.config import load_settings  # noqa: PLC0415
    from sip_tests.bench.ring import run_ring  # noqa: PLC0415

    lab = load_settings(click.get_current_context().find_root().obj).lab
    return run_ring(quick=quick, lab_settings=lab)


_command("ring", _ring, "Pop vs ring on the lab: from the INVITE at the phone to the pop.")


def _webphone(quick: bool) -> Report:
    from cti.config import load_settings  # noqa: PLC0415
    from sip_tests.bench.webphone import run_webphone  # noqa: PLC0415

    lab = load_settings(click.get_current_context().find_root().obj).lab
    return run_webphone(quick=quick, lab_settings=lab)


_command(
    "webphone",
    _webphone,
    "The pop card against the browser phone's ring and a desk phone's (p50/p99), on the lab.",
)


def _reports(quick: bool) -> Report:
    from sip_tests.bench.reports import run_reports  # noqa: PLC0415

    return run_reports(quick=quick)


_command(
    "reports",
    _reports,
    "Report query time on a store holding a year of calls (1M) and their buckets.",
)


def _access(quick: bool) -> Report:
    from sip_tests.bench.access import run_access  # noqa: PLC0415

    return run_access(quick=quick)


_command(
    "access",
    _access,
    "Access-number reservations/s and latency, service and HTTP daemon, SQLite and PostgreSQL.",
)


@bench.command(
    "cluster",
    help="Pop latency at 100 calls/s with agents spread over 3 nodes on Redis vs one node, and "
    "the broker's own round trip, in one run (PostgreSQL and a private redis-server on loopback).",
)
@_QUICK
@click.option(
    "--per-node",
    type=click.IntRange(min=3),
    default=None,
    help="Agents per node: one node with N agents against 3 nodes with 3N (the issue's form is "
    "1000). Default: the same agents in both passes (150 quick, 600 full).",
)
def _cluster(quick: bool, per_node: int | None) -> None:
    from sip_tests.bench.cluster import run_cluster  # noqa: PLC0415

    _emit(run_cluster(quick=quick, per_node=per_node))
