"""Pop template versions: configuration variables, the published source, problems and diffs."""

from __future__ import annotations

import pytest

from cti.errors import ValidationFailed
from cti.pop.render import PopRenderer
from cti.pop.versions import (
    PopSettings,
    diff_versions,
    publish_problems,
    published_source,
    sample_context,
)


@pytest.fixture(scope="module")
def renderer() -> PopRenderer:
    return PopRenderer(quarantine_s=0)


def test_settings_round_trip_and_refuse_bad_values() -> None:
    settings = PopSettings.from_json(
        {
            "trigger": "answered",
            "dispositions": ["Sale", "No sale"],
            "fields": {"contact": ["email"], "cases": ["number", "status"]},
            "history_limit": 2,
            "case_statuses": [" Open "],
            "layout": {"none": "caller_only", "one": "compact", "several": "expanded"},
        }
    )
    assert settings.as_json()["case_statuses"] == ["open"]
    assert settings.as_json()["fields"]["history"] == []
    assert PopSettings.from_json(settings.as_json()) == settings
    for bad in (
        {"trigger": "later"},
        {"dispositions": ["a", "a"]},
        {"dispositions": ["x" * 65]},
        {"fields": {"contact": ["password"]}},
        {"fields": {"secrets": []}},
        {"history_limit": 99},
        {"layout": {"none": "boom", "one": "full", "several": "picker"}},
        {"wrapup_seconds": True},
        {"surprise": 1},
    ):
        with pytest.raises(ValidationFailed):
            PopSettings.from_json(bad)


def test_the_standard_template_honours_the_configuration(renderer: PopRenderer) -> None:
    full = renderer.render(published_source(None, PopSettings()), sample_context("one"))
    assert "alice@example.com" in full and "CS-11" in full and "Recent calls" in full
    assert full.count("<li>") == 5  # the default history limit

    lean = PopSettings.from_json(
        {
            "fields": {"contact": ["phones"], "account": [], "cases": ["number"], "history": []},
            "case_statuses": ["pending"],
            "layout": {"none": "caller_only", "one": "full", "several": "expanded"},
        }
    )
    text = published_source(None, lean)
    one = renderer.render(text, sample_context("one"))
    assert "alice@example.com" not in one and "Globex Corporation" not in one
    assert "CS-12" in one and "CS-11" not in one  # only pending cases
    assert "Recent calls" not in one
    none = renderer.render(text, sample_context("none"))
    assert "Create contact" not in none
    several = renderer.render(text, sample_context("several"))
    assert "Bob Baker" in several and "Carol Carter" in several and "picker" not in several


def test_the_preamble_keeps_the_template_line_numbers(renderer: PopRenderer) -> None:
    source = "<p>{{ config.history_limit }}</p>\n<p>{{ call.nope }}</p>"
    problems = publish_problems(renderer, source, PopSettings())
    assert problems and all(p["line"] == 2 for p in problems)
    assert {p["sample"] for p in problems} == {"none", "one", "several"}
    broken = publish_problems(renderer, "<p>\n{% if %}</p>", PopSettings())
    assert broken == [
        {
            "sample": None,
            "kind": "syntax",
            "line": 2,
            "message": "Expected an expression, got 'end of statement block'",
            "error": "syntax error on line 2: Expected an expression, got 'end of statement block'",
        }
    ]


def test_settings_cannot_break_out_of_the_preamble(renderer: PopRenderer) -> None:
    hostile = PopSettings(dispositions=("%} {{ 7*7 }} {% raw %}", "{# x #}", "a\"b'c"))
    text = published_source("{{ config.dispositions|join('|') }}", hostile)
    assert (
        renderer.render(text, sample_context("none"))
        == "%} {{ 7*7 }} {% raw %}|{# x #}|a&#34;b&#39;c"
    )


def test_diff_shows_settings_and_source() -> None:
    diff = diff_versions(
        "<p>a</p>\n",
        PopSettings(),
        "<p>b</p>\n",
        PopSettings(trigger="answered"),
        old_label="v1",
        new_label="v2",
    )
    assert diff.startswith("--- v1\n+++ v2\n")
    assert '-settings:   "trigger": "ringing",' in diff
    assert '+settings:   "trigger": "answered",' in diff
    assert "-<p>a</p>" in diff and "+<p>b</p>" in diff
