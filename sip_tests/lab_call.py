"""``cti lab call``: place a test call from the lab's carrier (SIPp) into the lab Asterisk.

A ``cti lab`` subcommand that the lab tools plug in (entry point group ``cti.lab_commands``), so
the product's ``cti`` command never imports SIPp helpers itself.
"""

from __future__ import annotations

import click

from cti.config import LabSettings
from sip_tests.sipp import SippError, SipTarget, inbound_call

__all__ = ["call"]


@click.command("call")
@click.option("--did", default="442079460100", show_default=True, help="DID to call (sales queue).")
@click.option("--from", "caller", default="+442079460001", show_default=True, help="Caller number.")
@click.option("--name", default="Alice Archer", show_default=True, help="Caller name.")
@click.option(
    "--hold", type=float, default=20.0, show_default=True, help="Talk time once answered."
)
@click.option(
    "--ring", type=float, default=30.0, show_default=True, help="Give up (abandon) after."
)
@click.pass_obj
def call(
    settings: LabSettings, *, did: str, caller: str, name: str, hold: float, ring: float
) -> None:
    """Place a test call from the lab's carrier (SIPp) into the lab Asterisk."""
    target = SipTarget("127.0.0.1", settings.sip_port, settings.trunk_host, settings.trunk_port)
    try:
        placed = inbound_call(target, did, caller, name, answer_timeout_s=ring, hold_s=hold)
    except SippError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"lab: calling DID {did} from {name} <{caller}>; waiting for the call to end")
    result = placed.wait(timeout_s=ring + hold + 30)
    outcomes = ", ".join(o.outcome for o in result.outcomes) or "no outcome"
    click.echo(f"lab: call finished: {outcomes}")
