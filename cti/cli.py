"""The ``cti`` command: the daemon, the demo and the lab Asterisk.

Every subcommand loads the settings once (defaults < ``--config`` TOML file < ``CTI_*``
environment) and passes down only what each part needs. Expected failures (a :class:`CtiError`)
print one clear message and exit 2; nothing prints a traceback at a user for a known problem.

Commands that are not part of the product plug in through entry points: group ``cti.commands``
adds top-level commands (the lab tools' ``cti bench`` and ``cti drill``), group
``cti.lab_commands`` adds ``cti lab`` subcommands (``cti lab call``). An install without the lab
tools simply lacks them; a plug-in that fails to load says so in one line when it is called.
"""

from __future__ import annotations

import faulthandler
import json
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import wraps
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, TypeVar

import click

from cti.config import LabSettings, Settings, load_settings
from cti.errors import CtiError

__all__ = ["PluginGroup", "cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn a CtiError into a one-paragraph message and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CtiError as exc:
            click.echo(f"cti: {exc.message}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


class PluginGroup(click.Group):
    """A command group that also offers the commands other distributions declare as entry points.

    Each plug-in is imported only when it is listed or called, so a broken one never stops the
    product's own commands; calling it prints why it could not load (one line, exit 2).
    """

    def __init__(self, *args: Any, entry_point_group: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group
        self._entry_points: Mapping[str, EntryPoint] | None = None

    def plugins(self) -> Mapping[str, EntryPoint]:
        """The entry points of this group by command name (the product's own commands win)."""
        if self._entry_points is None:
            found = entry_points(group=self.entry_point_group)
            self._entry_points = {ep.name: ep for ep in found if ep.name not in self.commands}
        return self._entry_points

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.plugins():
            self.commands[cmd_name] = _load_plugin(cmd_name, self.plugins()[cmd_name])
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CtiError as exc:  # a plug-in's known failure reads like the product's own
            click.echo(f"cti: {exc.message}", err=True)
            sys.exit(2)


def _load_plugin(name: str, entry_point: EntryPoint) -> click.Command:
    """Import a plug-in command; if it cannot be, a stand-in that says why when called."""
    try:
        command = entry_point.load()
    except Exception as exc:  # any failure to import: said in one line when called
        kind, reason = type(exc).__name__, " ".join(f"{type(exc).__name__}: {exc}".split())
    else:
        if isinstance(command, click.Command):
            return command
        kind = reason = "not a click command"
    source = entry_point.dist.name if entry_point.dist is not None else "a plug-in"
    message = f"cti: `{name}` could not be loaded from {source} ({entry_point.value}): {reason}"

    def unavailable() -> None:
        click.echo(message, err=True)
        sys.exit(2)

    return click.Command(
        name,
        callback=unavailable,
        help=f"Unavailable: {message}",
        short_help=f"(unavailable: {kind})",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=PluginGroup, entry_point_group="cti.commands")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="CTI_CONFIG",
    help="TOML configuration file (env: CTI_CONFIG).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """CTI for Asterisk call centres."""
    ctx.obj = config_file


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    return load_settings(ctx.obj, **overrides)


# ------------------------------------------------------------------------------------- daemon
def _run_daemon(settings: Settings) -> None:
    import asyncio
    import os

    from cti.daemon import Daemon
    from cti.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    node_id = click.get_current_context().meta.get(_NODE_ID)
    if node_id:  # `cti serve --node-id`: this node's name in a cluster (docs/scale-out.md)
        cluster = settings.cluster.model_copy(update={"node_id": node_id})
        settings = settings.model_copy(update={"cluster": cluster})
    # The one place the process environment is handed down: secrets named by *_env settings.
    asyncio.run(Daemon(settings, os.environ).serve())


_NODE_ID = "cti.node_id"


def _keep_node_id(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    del param
    if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", value):
        raise click.BadParameter("1-40 letters, digits, '_', '.' or '-'")
    ctx.meta[_NODE_ID] = value


@cli.command("serve")
@click.option(
    "--node-id",
    expose_value=False,
    callback=_keep_node_id,
    help="This node's name in a cluster ([cluster] node_id; default host name and pid).",
)
@click.option(
    "--region",
    help="The site's default region (ISO 3166, e.g. US), stored as the admin console's site "
    "setting; asked on a terminal's first run when neither the config nor the store has one.",
)
@click.pass_context
@_friendly
def serve(ctx: click.Context, region: str | None) -> None:
    """Run the daemon: AMI sessions, pops over websockets, call records to the CRM."""
    settings = _settings(ctx)
    ask = None
    if sys.stdin.isatty():
        ask = lambda question, default: click.prompt(question, default=default)  # noqa: E731
    _setup_region(settings, region, ask)
    _run_daemon(settings)


def _setup_region(
    settings: Settings, region: str | None, ask: Callable[[str, str], str] | None
) -> None:
    """Setup's one question: the site's default region (stored; see cti.site_settings.setup)."""
    from cti.private_files import ensure_private_dir
    from cti.site_settings.setup import first_run_region
    from cti.store import Store

    ensure_private_dir(settings.state_dir)  # as the daemon does: the store may live there
    store = Store.from_settings(settings.store)
    try:
        store.upgrade()
        chosen = first_run_region(
            store,
            settings.crm.default_region,
            configured_by_site="default_region" in settings.crm.model_fields_set,
            given=region,
            ask=ask,
        )
    finally:
        store.close()
    if chosen is not None:
        click.echo(
            f"setup: the site's default region is {chosen.region} (admin console: Site setup)"
        )


@cli.command("seed")
@click.pass_context
@_friendly
def seed(ctx: click.Context) -> None:
    """Create the demo agents, groups and CRM records where missing (idempotent)."""
    from cti.demo import seed as seed_demo

    for agent in seed_demo(_settings(ctx)):
        click.echo(f"seed: {agent.role:10} {agent.username:6} password {agent.password}")


@cli.command("demo")
@click.option("--port", type=int, default=8080, show_default=True, help="HTTP port.")
@click.option(
    "--simulated-phones/--no-simulated-phones",
    default=True,
    show_default=True,
    help="Give demo agents not using the browser phone a desk phone that answers by itself.",
)
@click.option(
    "--answer-after",
    type=click.FloatRange(0.5, 60),
    default=4.0,
    show_default=True,
    help="Seconds a simulated phone rings before it answers.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="Run a cluster of this many nodes (ports PORT and up) on a private redis-server and "
    "PostgreSQL on loopback (docs/scale-out.md); one node when either is missing.",
)
@click.pass_context
@_friendly
def demo(
    ctx: click.Context, port: int, simulated_phones: bool, answer_after: float, nodes: int
) -> None:
    """Start the lab Asterisk, seed a demo CRM and agents, and run the daemon against them."""
    from cti.demo import seed as seed_demo
    from cti.demo.cluster import cluster_problem, demo_store_url, serve_cluster
    from cti.demo.run import demo_phones, demo_settings, serve_demo
    from cti.numbers import BUILT_IN_DEFAULT_REGION as DEMO_REGION

    base = _settings(ctx)
    instance = _lab_instance(base.lab, provision=True)
    started, boot = instance.start()
    click.echo(f"demo: lab Asterisk {'started' if started else 'running'} ({boot:.1f} s)")
    settings = demo_settings(ctx.obj, base.lab, port, base)
    if nodes > 1:
        store_url = demo_store_url(settings)
        problem = cluster_problem(store_url)
        if problem is None:
            store = settings.store.model_copy(update={"url": store_url})
            settings = settings.model_copy(update={"store": store})
            click.echo(f"demo: {nodes} nodes on PostgreSQL {store_url}")
        else:
            click.echo(f"demo: --nodes {nodes} needs a broker and PostgreSQL: {problem}")
            click.echo("demo: running one node instead")
            nodes = 1
    # The demo's contacts and callers are GB numbers: a site that never chose keeps GB.
    _setup_region(settings, None, lambda question, default: DEMO_REGION)
    agents = seed_demo(settings)
    click.echo(f"demo: log in at http://127.0.0.1:{port}/ as one of:")
    for agent in agents:
        phone = (
            f" (phone {agent.endpoint}, SIP password lab-{agent.endpoint[-4:]})"
            if agent.endpoint
            else ""
        )
        click.echo(f"  {agent.username:6} / {agent.password:12} {agent.role}{phone}")
    phones = None
    if simulated_phones:
        contacts = lambda: instance.cli("pjsip show contacts")  # noqa: E731
        phones = demo_phones(agents, base.lab, contacts, answer_after_s=answer_after)
        click.echo(
            "demo: simulated desk phones for "
            + ", ".join(p.extension for p in phones.phones)
            + f" answer after {answer_after:g} s (an agent's browser phone replaces hers);"
            " --no-simulated-phones turns them off"
        )
    click.echo(f"demo: carrier calls: `cti lab call` (SIP at 127.0.0.1:{base.lab.sip_port})")
    if nodes > 1:
        serve_cluster(settings, nodes, ctx.obj, phones, click.echo)
        return
    serve_demo(settings, phones, click.echo)


# ------------------------------------------------------------------------------------- lab
@cli.group(cls=PluginGroup, entry_point_group="cti.lab_commands")
@click.option("--instance", help="Lab instance name (default from config: dev).")
@click.pass_context
def lab(ctx: click.Context, instance: str | None) -> None:
    """The lab Asterisk 22 on loopback, for development, demos and tests."""
    try:
        settings = _settings(ctx)
    except CtiError as exc:
        click.echo(f"cti: {exc.message}", err=True)
        sys.exit(2)
    lab_settings = settings.lab
    if instance:
        lab_settings = LabSettings.model_validate(
            {**lab_settings.model_dump(), "instance": instance}
        )
    ctx.obj = lab_settings


def _lab_instance(settings: LabSettings, *, provision: bool) -> Any:
    from cti.lab import LabInstance, ensure_asterisk

    if provision:
        install = ensure_asterisk(
            settings.cache_dir,
            mirror=settings.debian_mirror,
            log=lambda m: click.echo(f"lab: {m}"),
        )
    else:
        install = _existing_install(settings)
    return LabInstance(install, settings)


def _existing_install(settings: LabSettings) -> Any:
    from cti.errors import LabError
    from cti.lab import find_asterisk

    install = find_asterisk(settings.cache_dir)
    if install is None:
        raise LabError("the lab has never been set up on this machine; run `cti lab up`")
    return install


@lab.command("up")
@click.pass_obj
@_friendly
def lab_up(settings: LabSettings) -> None:
    """Give this machine Asterisk 22 (once) and start the lab instance; idempotent."""
    t0 = time.monotonic()
    instance = _lab_instance(settings, provision=True)
    install = instance.install
    how = "reused" if install.reused else "set up"
    click.echo(
        f"lab: Asterisk {install.version} ({install.source}, {how} in {install.seconds:.1f} s) "
        f"at {install.root}"
    )
    started, boot = instance.start()
    status = instance.status()
    verb = "started" if started else "already running"
    click.echo(
        f"lab: instance {status.instance} {verb} (pid {status.pid}), fully booted after "
        f"{boot:.1f} s; total {time.monotonic() - t0:.1f} s"
    )
    click.echo(
        f"lab: AMI {status.ami} (user {settings.ami_username})  SIP {status.sip}  "
        f"trunk peer {status.trunk}  browser phones {status.websocket}"
    )
    click.echo(f"lab: AMI over TLS {status.ami_tls}, CA {status.tls_ca_file}")


@lab.command("down")
@click.pass_obj
@_friendly
def lab_down(settings: LabSettings) -> None:
    """Stop the lab instance's Asterisk (only the process `up` started)."""
    instance = _lab_instance(settings, provision=False)
    t0 = time.monotonic()
    if instance.stop():
        click.echo(f"lab: instance {settings.instance} stopped in {time.monotonic() - t0:.1f} s")
    else:
        click.echo(f"lab: instance {settings.instance} was not running")


@lab.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
@_friendly
def lab_status(settings: LabSettings, as_json: bool) -> None:
    """Show whether the lab instance runs, its ports and live channel count."""
    status = _lab_instance(settings, provision=False).status()
    if as_json:
        click.echo(json.dumps(asdict(status)))
        return
    state = f"running (pid {status.pid})" if status.running else "stopped"
    click.echo(f"lab {status.instance}: {state}, Asterisk {status.version}")
    click.echo(f"  AMI {status.ami}  SIP {status.sip}  trunk peer {status.trunk}")
    click.echo(f"  AMI over TLS {status.ami_tls} (CA {status.tls_ca_file})")
    click.echo(f"  browser phones (SIP over websocket) {status.websocket}")
    if status.active_channels is not None:
        click.echo(f"  active channels: {status.active_channels}")
    click.echo(f"  files: {status.directory}")
    if not status.running:
        sys.exit(3)


@lab.command("logs")
@click.option("-n", "lines", default=50, show_default=True, help="How many lines of each log.")
@click.pass_obj
@_friendly
def lab_logs(settings: LabSettings, lines: int) -> None:
    """Print the end of the lab instance's Asterisk logs."""
    for path in _lab_instance(settings, provision=False).log_files():
        click.echo(f"==> {path} <==")
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines()[-lines:]:
                click.echo(line)
        else:
            click.echo("(no such file yet)")


@lab.command("record")
@click.argument("output", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--seconds", type=float, default=None, help="Stop after this long (default: Ctrl-C).")
@click.pass_obj
@_friendly
def lab_record(settings: LabSettings, output: Path, seconds: float | None) -> None:
    """Write every AMI event of the lab instance to OUTPUT as JSON lines with arrival times."""
    import asyncio

    from cti.lab.record import record_lab

    asyncio.run(record_lab(settings, output, seconds=seconds, log=click.echo))


# ---------------------------------------------------------------------------------- outbox
@cli.group()
def outbox() -> None:
    """Call records waiting for delivery to the CRM, and those that keep failing."""


@outbox.command("list")
@click.option("--stuck", is_flag=True, help="Only rows that failed store.outbox.stuck_after times.")
@click.option("--all", "include_delivered", is_flag=True, help="Include delivered rows.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_context
@_friendly
def outbox_list(
    ctx: click.Context, stuck: bool, include_delivered: bool, limit: int, as_json: bool
) -> None:
    """Show undelivered call records: call id, connector, attempts, next attempt, last error."""
    from cti.store.admin import list_outbox

    text = list_outbox(
        _settings(ctx).store,
        stuck=stuck,
        include_delivered=include_delivered,
        limit=limit,
        as_json=as_json,
    )
    click.echo(text, nl=False)


@outbox.command("retry")
@click.argument("row_id", metavar="ID", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Every undelivered row.")
@click.pass_context
@_friendly
def outbox_retry(ctx: click.Context, row_id: int | None, retry_all: bool) -> None:
    """Make row ID (or --all) due now; the daemon delivers it within its poll interval."""
    from cti.store.admin import retry_outbox

    if (row_id is None) != retry_all:
        raise click.UsageError("give one row ID or --all")
    count = retry_outbox(_settings(ctx).store, row_id)
    click.echo(f"outbox: {count} row{'s' if count != 1 else ''} due now")


def main() -> None:
    """Console-script entry point."""
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a process that will not
    # stop (or answers slowly) is doing, without a debugger on the box.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    cli(prog_name="cti")


if __name__ == "__main__":
    main()
