"""The pop template sandbox: known escapes fail, runaway templates stop within their limits.

Every payload must fail with a TemplateError (never render, never raise anything else) and do
so quickly. The list: the published jinja2 sandbox escapes (CVE-2019-10906: str.format /
format_map reaching attributes; CVE-2024-56326: a stored reference to a string's ``format``
called later; CVE-2025-27516: ``|attr('format')`` bypassing the attribute check), the classic
class walks to ``__subclasses__`` / ``__globals__``, ways around autoescape, and resource
exhaustion (loops, ``range(10**9)``, huge strings, numbers, nesting, output).
"""

from __future__ import annotations

import time

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cti.errors import TemplateError
from cti.pop.budget import RenderLimits
from cti.pop.render import DEFAULT_TEMPLATE, PopRenderer, dial, duration, url, when
from cti.pop.versions import sample_context

ESCAPES = {
    # CVE-2019-10906: str.format / format_map walking attributes of their arguments
    "format-class": '{{ "{0.__class__.__base__.__subclasses__}".format(42) }}',
    "format-globals": '{{ "{0.__init__.__globals__}".format(cycler) }}',
    "format_map": '{{ "{x.__class__}".format_map({"x": 42}) }}',
    "format-markup": '{{ ("{0.__class__}"|e).format(1) }}',
    # CVE-2024-56326: a reference to a string's format method stored, then called
    "stored-format": '{% set f = "{0.__class__}".format %}{{ f(1) }}',
    "namespace-format": (
        '{% set ns = namespace(run="{0.__call__.__builtins__[__import__]}".format) %}'
        "{{ ns.run(1) }}"
    ),
    "dict-format": '{% set d = {"f": "{0.__globals__}".format} %}{{ d.f(cycler) }}',
    "format-via-getitem": '{{ "{0.__class__}"["format"](1) }}',
    # CVE-2025-27516: |attr selecting the plain format method
    "attr-format": '{{ "{0.__call__.__builtins__[__import__]}"|attr("format")(1) }}',
    "attr-class": "{{ ''|attr('__class__') }}",
    "map-attr": "{{ ['a']|map(attribute='__class__')|list }}",
    # class walks
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "bases": "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "getitem-class": "{{ ''['__class__'] }}",
    "self-globals": "{{ self.__init__.__globals__ }}",
    "cycler-globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner-globals": "{{ joiner.__init__.__globals__ }}",
    "namespace-globals": "{{ namespace.__init__.__globals__ }}",
    "lipsum-globals": "{{ lipsum.__globals__['os'] }}",
    "range-class": "{{ range.__class__ }}",
    "dict-mro": "{{ dict.mro() }}",
    "loop-class": "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
    "data-class": "{{ call.__class__ }}",
    "macro-globals": "{% macro m() %}{% endmacro %}{{ m.__globals__ }}",
    "mutation": "{{ matches.append(1) }}",
    # autoescape stays on
    "safe": "{{ call.caller_name|safe }}",
    "filter-safe": "{% filter safe %}{{ call.caller_name }}{% endfilter %}",
    "autoescape-off": "{% autoescape false %}{{ call.caller_name }}{% endautoescape %}",
    "xmlattr": "<p {{ {'onclick': call.caller_name}|xmlattr }}>",
    "format-filter": "{{ '%s'|format(call.caller_name) }}",
    "percent": "{{ '%s' % call.caller_name }}",
    "include": "{% include 'other' %}",
    "import": "{% import 'other' as o %}",
    "extends": "{% extends 'base' %}",
    # resource exhaustion
    "range-1e9": "{{ range(10**9)|list }}",
    "for-range-1e9": "{% for i in range(10**9) %}{% endfor %}",
    "nested-loops": "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
    "repeat": "{{ 'x' * 10**9 }}",
    "repeat-list": "{{ [1] * 10**9 }}",
    "power": "{{ 10 ** (10 ** 10) }}",
    "int-growth": "{% set n = namespace(v=2) %}"
    "{% for i in range(200) %}{% set n.v = n.v * n.v %}{% endfor %}{{ n.v }}",
    "expandtabs": "{{ '\\t'.expandtabs(10**9) }}",
    "center": "{{ 'x'.center(10**9) }}",
    "ljust": "{{ 'x'.ljust(999999999) }}",
    "zfill": "{{ 'x'.zfill(999999999) }}",
    "printf-width": "{{ '%999999999d' % 1 }}",
    "round": "{{ 5|round(-999999999) }}",
    "replace-blowup": "{{ ('x' * 100000)|replace('x', 'yyyyyyyyyyyyyyyyyyyy') }}",
    "join-shared": "{% set s = 'x' * 200000 %}{{ [s, s, s, s, s, s]|join }}",
    "concat-doubling": "{% set a = 'xxxxxxxx' %}" + "{% set a = a ~ a %}" * 40 + "{{ a }}",
    "plus-doubling": "{% set a = 'xxxxxxxx' %}" + "{% set a = a + a %}" * 40 + "{{ a }}",
    "list-dag": "{% set a = [call.id] %}" + "{% set a = [a, a] %}" * 40 + "{{ a == a }}",
    "list-dag-repeat": "{% set a = [call.id] %}" + "{% set a = [a] * 2 %}" * 40 + "{{ a }}",
    "macro-fanout": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "macro-recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "recursive-loop": "{% for x in [[1]] recursive %}{{ loop([x, x]) }}{% endfor %}",
    "huge-output": "{% for i in range(1000) %}{{ 'y' * 200000 }}{% endfor %}",
    "macro-buffer": "{% macro m() %}{% for i in range(1000) %}" + "z" * 5000 + "{% endfor %}"
    "{% endmacro %}{% set x = m() %}",
    "sum-lists": "{{ ([[1] * 1000] * 1000)|sum(start=[]) }}",
    "batch": "{{ [1]|batch(999999999, 0)|list }}",
    "str-sum-of-list": "{{ [1] * 10000|string }}",
}


@pytest.fixture(scope="module")
def renderer() -> PopRenderer:
    return PopRenderer(quarantine_s=0)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_and_exhaustion_payloads_fail_safely(renderer: PopRenderer, name: str) -> None:
    context = sample_context("one", caller_name="<script>alert(1)</script>")
    started = time.perf_counter()
    with pytest.raises(TemplateError) as caught:
        renderer.render(ESCAPES[name], context)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert caught.value.details["kind"] in {
        "syntax",
        "refused",
        "sandbox",
        "limit",
        "undefined",
        "runtime",
    }
    # compile + render within the render limit (plus room for a slow, busy test machine)
    assert elapsed_ms < renderer.limits.time_ms + 1000, f"{name}: {elapsed_ms:.0f} ms"


def test_the_limits_fail_with_a_reason_and_a_line(renderer: PopRenderer) -> None:
    source = (
        "<p>ok</p>\n{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
    )
    with pytest.raises(TemplateError) as caught:
        renderer.render(source, sample_context("none"))
    assert caught.value.details["kind"] == "limit"
    assert caught.value.details["line"] == 2
    assert "steps" in caught.value.message or "longer than" in caught.value.message


def test_an_endless_loop_stops_within_the_time_limit() -> None:
    renderer = PopRenderer(RenderLimits(time_ms=50, steps=10**9), quarantine_s=0)
    source = "{% for a in range(1000) %}{% for b in range(1000) %}{{ b }}{% endfor %}{% endfor %}"
    # The renderer's own deadline stopped it (the message says so); a wall-clock bound here would
    # only measure how loaded the machine is.
    with pytest.raises(TemplateError, match="longer than 50 ms"):
        renderer.render(source, sample_context("none"))


def test_a_template_that_ran_out_of_time_is_quarantined() -> None:
    now = [0.0]
    renderer = PopRenderer(RenderLimits(time_ms=30), quarantine_s=60, clock=lambda: now[0])
    source = "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError):
        renderer.render(source, sample_context("none"))
    with pytest.raises(TemplateError, match="not run again"):  # refused without running
        renderer.render(source, sample_context("none"))
    now[0] = 61.0
    with pytest.raises(TemplateError, match=r"steps|longer than"):
        renderer.render(source, sample_context("none"))


def test_caller_data_is_escaped_and_hrefs_keep_only_http(renderer: PopRenderer) -> None:
    context = sample_context("one", caller_name='<img src=x onerror="alert(1)">')
    html = renderer.render(
        '{{ call.caller_name }}|<a href="{{ "javascript:alert(1)"|url }}">'
        '|<a href="{{ matches[0].url|url }}">',
        context,
    )
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert '<a href="">' in html
    assert '<a href="https://crm.example/' in html


def test_ordinary_templates_render_as_plain_jinja_would(renderer: PopRenderer) -> None:
    plain = ImmutableSandboxedEnvironment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    plain.filters.update(dial=dial, when=when, duration=duration, url=url)
    source = (
        DEFAULT_TEMPLATE
        + "{% set parts = [call.id, match_count] %}{{ parts|join(', ') }} {{ call.id ~ '/' }}"
        "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}"
        "{% macro row(x) %}<i>{{ x }}</i>{% endmacro %}{{ row(call.caller_name) }}"
        "{{ call.caller_name.upper() }} {{ (2 ** 10) * 3 + 1 }} {{ 7 % 3 }} {{ range(3)|list }}"
        "{% for x in [[1, [2]], [3]] recursive %}{{ x if x is number else loop(x) }}{% endfor %}"
    )
    for kind in ("none", "one", "several"):
        context = sample_context(kind, caller_name="Ann <&> Co")
        assert renderer.render(source, context) == plain.from_string(source).render(context)


def test_undefined_names_and_syntax_errors_name_the_line(renderer: PopRenderer) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("<p>\n{{ call.id }}\n{{ call.nope }}</p>", sample_context("none"))
    assert caught.value.details == {
        "kind": "undefined",
        "line": 3,
        "message": "undefined name: 'dict object' has no attribute 'nope'",
    }
    with pytest.raises(TemplateError) as caught:
        renderer.compile("<p>\n{{ call.id }}\n{{ call.id | }}\n</p>")
    assert caught.value.details["kind"] == "syntax"
    assert caught.value.details["line"] == 3
    assert caught.value.message.startswith("syntax error on line 3:")


def test_output_and_source_caps(renderer: PopRenderer) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.render("x" * (64 * 1024 + 1), sample_context("none"))
    assert caught.value.details["kind"] == "source_size"
    with pytest.raises(TemplateError) as caught:
        renderer.render(
            "{% for i in range(300) %}{{ 'y' * 1000 }}{% endfor %}", sample_context("none")
        )
    assert caught.value.details["kind"] == "output_size"
