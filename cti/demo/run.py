"""``cti demo``: the daemon on the lab Asterisk with the demo's settings, beside the demo agents'
simulated phones, and the one thing a newcomer does to see a pop.

The demo's settings (:func:`demo_settings`) are the configuration file's and environment's, with
the lab as the only PBX, the browser phone on the lab's websocket with the lab's fixed secrets,
and test calls coming from a demo CRM contact, so "Ring me a test call" pops a full card.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cti.config import LabSettings, Settings, load_settings
from cti.daemon import Daemon
from cti.demo import DemoAgent
from cti.demo.access import with_call_us
from cti.demo.phones import DemoPhones, SimulatedPhone
from cti.logs import configure_logging

__all__ = ["demo_phones", "demo_settings", "ready_lines", "serve_demo"]

# Who "Ring me a test call" comes from in the demo: a contact of the demo CRM.
TEST_CALLER = ("+442079460001", "Alice Archer")


def demo_settings(
    config_file: Path | None, lab: LabSettings, port: int, base: Settings
) -> Settings:
    """The demo's settings: ``base`` with the lab as PBX, browser phone and test calls."""
    return load_settings(
        config_file,
        servers=[
            {
                "name": "lab",
                "port": lab.ami_port,
                "username": lab.ami_username,
                "secret": lab.ami_secret.get_secret_value(),
            }
        ],
        http={**base.http.model_dump(), "port": port, "public_origin": f"http://127.0.0.1:{port}"},
        webphone={"ws_url": f"ws://127.0.0.1:{lab.http_port}/ws", "lab_passwords": True},
        test_calls={
            **base.test_calls.model_dump(),
            "caller_number": TEST_CALLER[0],
            "caller_name": TEST_CALLER[1],
        },
    )


def demo_phones(
    agents: Sequence[DemoAgent],
    lab: LabSettings,
    contacts: Callable[[], str],
    *,
    answer_after_s: float,
) -> DemoPhones:
    """A simulated desk phone for each demo agent with a lab extension (PJSIP/10XX)."""
    phones = [
        SimulatedPhone(
            extension,
            f"lab-{extension}",  # asterisk-config/pjsip.conf's lab secrets
            ("127.0.0.1", lab.sip_port),
            answer_after_s=answer_after_s,
        )
        for agent in agents
        if agent.endpoint and (extension := agent.endpoint.removeprefix("PJSIP/")).isdigit()
    ]
    return DemoPhones(phones, contacts)


def ready_lines(port: int, simulated: bool) -> list[str]:
    """What the demo prints once it serves: the URL, and the one thing to do to see a pop."""
    phone = (
        "a simulated phone answers after a few seconds"
        if simulated
        else "answer it in the page's phone"
    )
    return [
        f"demo: ready at http://127.0.0.1:{port}/agent",
        f'demo: sign in as alice / alice-demo and press "Ring me a test call": the caller\'s card '
        f"pops as the phone rings ({phone}).",
        f"demo: a customer's side of access numbers: http://127.0.0.1:{port}/examples/call-us "
        "asks for a number of the call-us pool (442079461001/1002, alice's and bob's lines); "
        "call the number it gives with `cti lab call --did <number> --from <the phone you gave>` "
        "and the agent's pop shows what the customer asked for.",
    ]


async def _announce_when_serving(
    port: int, lines: Sequence[str], echo: Callable[[str], Any]
) -> None:
    """Print ``lines`` once the daemon accepts connections on ``port``."""
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        break
    for line in lines:
        echo(line)


def serve_demo(
    settings: Settings,
    phones: DemoPhones | None,
    echo: Callable[[str], Any],
) -> None:
    """Run the daemon, the simulated phones beside it, and announce when it serves."""
    configure_logging(settings.log_format, settings.log_level)
    settings = with_call_us(settings)  # the example page's key, new each run
    port = settings.http.port

    async def main() -> None:
        lines = ready_lines(port, phones is not None)
        beside = [asyncio.create_task(_announce_when_serving(port, lines, echo))]
        if phones is not None:
            beside.append(asyncio.create_task(phones.run()))
        try:
            # The one place the process environment is handed down (as `cti serve` does).
            await Daemon(settings, os.environ).serve()
        finally:
            for task in beside:
                task.cancel()
            await asyncio.gather(*beside, return_exceptions=True)

    asyncio.run(main())
