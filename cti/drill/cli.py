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
