"""``cti drill ...``: run a fault drill and print what survived."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["drill"]

F = TypeVar("F", bound=Callable[..., Any])


def _lab_options(func: F) -> F:
    """Options every lab drill takes: which lab instance, where the daemon keeps its files."""
    func = click.option(
        "--lab-offset",
        type=int,
        default=0,
        show_default=True,
        envvar="CTI_TEST_LAB_OFFSET",
        help="Lab instance: the test suite's at this offset (pytest-N; env CTI_TEST_LAB_OFFSET).",
    )(func)
    return click.option(
        "--workdir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Where the daemon's store, state and log go (default: a new temporary directory).",
    )(func)


def _reconnect_options(func: F) -> F:
    """The daemon's AMI backoff; the product's defaults unless given."""
    func = click.option("--reconnect-base", type=float, default=None, help="Seconds.")(func)
    return click.option("--reconnect-cap", type=float, default=None, help="Seconds.")(func)


def _workdir(given: Path | None, name: str) -> Path:
    return given if given is not None else Path(tempfile.mkdtemp(prefix=f"cti-drill-{name}-"))


def _policy(base: float | None, cap: float | None) -> Any:
    from sip_tests.drill.lab_run import ReconnectPolicy  # noqa: PLC0415

    default = ReconnectPolicy()
    return ReconnectPolicy(
        base_s=default.base_s if base is None else base,
        cap_s=default.cap_s if cap is None else cap,
    )


@click.group()
def drill() -> None:
    """Fault drills: break something on purpose, print what survived."""


@drill.command("malformed")
@click.option("--frames", type=int, default=100_000, show_default=True)
def malformed(frames: int) -> None:
    """Malformed AMI frames among valid ones over a real socket: no crash, order kept."""
    from sip_tests.drill.malformed import run_malformed  # noqa: PLC0415

    result = asyncio.run(run_malformed(frames))
    for key, value in asdict(result).items():
        click.echo(f"{key:20} {value}")


@drill.command("ws-drop")
@click.option(
    "--seconds", type=float, default=30.0, show_default=True, help="Each drop lasts this long."
)
@click.option("--calls", type=int, default=5, show_default=True)
@click.pass_context
def ws_drop(ctx: click.Context, seconds: float, calls: int) -> None:
    """An agent's websocket black-holed, then closed, during live lab calls: every pop back."""
    from cti.config import load_settings  # noqa: PLC0415
    from sip_tests.drill.ws_drop import run_from_cli  # noqa: PLC0415

    report = run_from_cli(load_settings(ctx.find_root().obj).lab, seconds, calls)
    click.echo(report.table())
    click.echo(f"saved {report.save()}")


@drill.command("ami-cuts")
@click.option("--calls", type=int, default=200, show_default=True)
@click.option("--rate", type=float, default=10.0, show_default=True, help="Calls per second.")
@click.option("--cuts", type=int, default=20, show_default=True)
@click.option("--seed", type=int, default=None, help="When to cut (default: random, printed).")
@_reconnect_options
@_lab_options
def ami_cuts(
    *,
    calls: int,
    rate: float,
    cuts: int,
    seed: int | None,
    reconnect_base: float | None,
    reconnect_cap: float | None,
    lab_offset: int,
    workdir: Path | None,
) -> None:
    """Drill 1: AMI cut at random during lab calls; CDR vs CRM: nothing lost, nothing twice."""
    from sip_tests.drill.ami_cuts import run_ami_cuts  # noqa: PLC0415

    seed = secrets.randbelow(2**31) if seed is None else seed
    where = _workdir(workdir, "ami-cuts")
    policy = _policy(reconnect_base, reconnect_cap)
    click.echo(
        f"drill ami-cuts: {calls} calls at {rate}/s, {cuts} cuts, seed {seed}, lab offset "
        f"{lab_offset}, reconnect base {policy.base_s} s cap {policy.cap_s} s, daemon in {where}"
    )
    result = asyncio.run(
        run_ami_cuts(
            lab_offset, where, calls=calls, rate_per_s=rate, cuts=cuts, seed=seed,
            reconnect=policy,
        )
    )  # fmt: skip
    _print(result.report(quick=calls < 200), {"seed": seed})


def _print(report: Any, extra: dict[str, object]) -> None:
    report.details.update(extra)
    click.echo(report.table())
    for key, value in report.details.items():
        short = not isinstance(value, list) or 0 < len(value) <= 50
        if short:
            click.echo(f"{key}: {value}")
    click.echo(f"saved {report.save()}")


@drill.command("originate-cut")
@click.option(
    "--rounds",
    type=int,
    default=4,
    show_default=True,
    help="Modes in turn; the desktop allows an agent 5 dials per 30 s.",
)
@click.option(
    "--settle", type=float, default=5.0, show_default=True, help="Seconds after each call."
)
@_reconnect_options
@_lab_options
def originate_cut(
    *,
    rounds: int,
    settle: float,
    reconnect_base: float | None,
    reconnect_cap: float | None,
    lab_offset: int,
    workdir: Path | None,
) -> None:
    """Drill 6: click-to-dial in flight when AMI is cut: one call placed, never re-sent."""
    from sip_tests.drill.originate_cut import run_originate_cut  # noqa: PLC0415

    where = _workdir(workdir, "originate-cut")
    policy = _policy(reconnect_base, reconnect_cap)
    click.echo(
        f"drill originate-cut: {rounds} rounds, lab offset {lab_offset}, reconnect base "
        f"{policy.base_s} s cap {policy.cap_s} s, daemon in {where}"
    )
    result = asyncio.run(
        run_originate_cut(lab_offset, where, rounds=rounds, settle_s=settle, reconnect=policy)
    )
    _print(result.report(quick=rounds < 4), {})


@drill.command("pbx-restart")
@click.option("--calls", type=int, default=50, show_default=True, help="Live at the restart.")
@click.option("--rate", type=float, default=10.0, show_default=True, help="Calls per second.")
@_reconnect_options
@_lab_options
def pbx_restart(
    *,
    calls: int,
    rate: float,
    reconnect_base: float | None,
    reconnect_cap: float | None,
    lab_offset: int,
    workdir: Path | None,
) -> None:
    """Drill 2: `core restart now` under live calls: each closed and flagged, AMI back."""
    from sip_tests.drill.pbx_restart import run_pbx_restart  # noqa: PLC0415

    where = _workdir(workdir, "pbx-restart")
    policy = _policy(reconnect_base, reconnect_cap)
    click.echo(
        f"drill pbx-restart: {calls} live calls, lab offset {lab_offset}, reconnect base "
        f"{policy.base_s} s cap {policy.cap_s} s, daemon in {where}"
    )
    result = asyncio.run(
        run_pbx_restart(lab_offset, where, calls=calls, rate_per_s=rate, reconnect=policy)
    )
    _print(result.report(quick=calls < 50), {})


@drill.command("cluster")
@click.option("--calls", type=int, default=50, show_default=True)
@click.option("--agents", type=int, default=10, show_default=True, help="Spread over 3 nodes.")
@click.option("--rate", type=float, default=2.0, show_default=True, help="Calls per second.")
@click.option("--hold", type=float, default=8.0, show_default=True, help="Seconds per call.")
@_lab_options
def cluster(
    *, calls: int, agents: int, rate: float, hold: float, lab_offset: int, workdir: Path | None
) -> None:
    """Drill 7: three nodes; the AMI owner killed (-9), then the broker restarted, mid-calls."""
    from sip_tests.drill.cluster_failover import run_cluster_failover  # noqa: PLC0415
    from sip_tests.drill.cluster_lab import scratch_database  # noqa: PLC0415

    where = _workdir(workdir, "cluster")
    click.echo(
        f"drill cluster: {calls} calls at {rate}/s held {hold} s, {agents} agents on 3 nodes, "
        f"lab offset {lab_offset}, a private redis-server and PostgreSQL database, in {where}"
    )
    with scratch_database() as store_url:
        result = asyncio.run(
            run_cluster_failover(
                lab_offset, where, store_url, calls=calls, agents=agents, rate_per_s=rate,
                hold_s=hold,
            )
        )  # fmt: skip
    _print(result.report(quick=calls < 50), {})
    if not result.ok:
        raise SystemExit(1)
