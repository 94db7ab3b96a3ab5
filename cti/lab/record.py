"""``cti lab record``: write every AMI event of a lab instance to a JSON-lines transcript."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from cti.config import LabSettings
from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings
from pbx_adapters.recorder import AmiRecorder

__all__ = ["record_lab", "recording"]


@contextlib.asynccontextmanager
async def recording(settings: LabSettings, output: Path) -> AsyncIterator[AmiRecorder]:
    """Record the lab's AMI events into ``output`` (a new file) while the block runs."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with AmiRecorder.open(output) as recorder:
        ami = AmiSettings(
            host="127.0.0.1",
            port=settings.ami_port,
            username=settings.ami_username,
            secret=settings.ami_secret.get_secret_value(),
        )
        async with AmiConnection("lab", ami, recorder.tap("lab")) as connection:
            await connection.wait_ready(timeout_s=10)
            yield recorder


async def record_lab(
    settings: LabSettings,
    output: Path,
    *,
    seconds: float | None,
    log: Callable[[str], object],
) -> int:
    """Record until ``seconds`` pass or Ctrl-C / SIGTERM; return how many events were written."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with recording(settings, output) as recorder:
        log(f"recording AMI events of lab {settings.instance} into {output}; Ctrl-C stops")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
    log(f"wrote {recorder.frames_written} events to {output}")
    return recorder.frames_written
