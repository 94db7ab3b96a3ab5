"""``cti`` commands from entry points (cti.cli.PluginGroup): the lab tools' commands plug in,
and a plug-in that cannot load says so in one line without breaking the product's commands."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner

from cti import cli as cti_cli
from cti.cli import PluginGroup, cli
from cti.errors import LabError

GROUP = "cti.test_commands"


@click.command("hello")
def hello() -> None:
    """Say hello."""
    click.echo("hello from a plug-in")


@click.command("fails")
def fails() -> None:
    """Fail as the product's commands do."""
    raise LabError("the lab is not up; run `cti lab up`")


NOT_A_COMMAND = "just a string"

PLUGINS = [
    EntryPoint("hello", f"{__name__}:hello", GROUP),
    EntryPoint("fails", f"{__name__}:fails", GROUP),
    EntryPoint("broken", "no_such_module_for_cti_tests:command", GROUP),
    EntryPoint("odd", f"{__name__}:NOT_A_COMMAND", GROUP),
    EntryPoint("own", "no_such_module_for_cti_tests:own", GROUP),
]


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    monkeypatch.setattr(
        cti_cli, "entry_points", lambda group: [ep for ep in PLUGINS if ep.group == group]
    )

    @click.group(cls=PluginGroup, entry_point_group=GROUP)
    def root() -> None:
        """A group with one command of its own."""

    @root.command("own")
    def own() -> None:
        click.echo("the product's own")

    return root


def test_a_plugin_command_runs_beside_the_groups_own(group: click.Group) -> None:
    runner = CliRunner()
    assert runner.invoke(group, ["hello"]).output == "hello from a plug-in\n"
    assert runner.invoke(group, ["own"]).output == "the product's own\n"  # own wins over "own"


def test_a_plugin_that_cannot_load_says_why_in_one_line(group: click.Group) -> None:
    result = CliRunner().invoke(group, ["broken", "--quick", "x"])
    assert result.exit_code == 2
    assert result.output == (
        "cti: `broken` could not be loaded from a plug-in (no_such_module_for_cti_tests:command):"
        " ModuleNotFoundError: No module named 'no_such_module_for_cti_tests'\n"
    )
    odd = CliRunner().invoke(group, ["odd", "--help"])
    assert odd.exit_code == 2 and "not a click command" in odd.output
    assert "Traceback" not in result.output + odd.output


def test_the_help_lists_every_command_and_marks_the_broken_ones(group: click.Group) -> None:
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line]
    assert listed == ["broken", "fails", "hello", "odd", "own"]
    assert "(unavailable: ModuleNotFoundError" in result.output
    assert CliRunner().invoke(group, ["hello"]).exit_code == 0  # still fine after listing


def test_a_plugins_cti_error_reads_like_the_products_own(group: click.Group) -> None:
    result = CliRunner().invoke(group, ["fails"])
    assert result.exit_code == 2
    assert result.output == "cti: the lab is not up; run `cti lab up`\n"


def test_the_lab_tools_plug_in_bench_drill_and_lab_call() -> None:
    runner = CliRunner()
    for args in (["bench", "--help"], ["drill", "--help"], ["lab", "call", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    assert "pop" in runner.invoke(cli, ["bench", "--help"]).output
    assert "ami-cuts" in runner.invoke(cli, ["drill", "--help"]).output
    assert "--did" in runner.invoke(cli, ["lab", "call", "--help"]).output
