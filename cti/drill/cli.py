"""``cti drill ...``: run a fault drill and print what survived."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import click

__all__ = ["drill"]


@click.group()
def drill() -> None:
    """Fault drills: break something on purpose, print what survived."""


@drill.command("malformed")
@click.option("--frames", type=int, default=100_000, show_default=True)
def malformed(frames: int) -> None:
    """Malformed AMI frames among valid ones over a real socket: no crash, order kept."""
    from cti.drill.malformed import run_malformed  # noqa: PLC0415

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
    from cti.drill.ws_drop import run_from_cli  # noqa: PLC0415

    report = run_from_cli(load_settings(ctx.find_root().obj).lab, seconds, calls)
    click.echo(report.table())
    click.echo(f"saved {report.save()}")
