"""Render pop cards from group templates, in a jinja2 sandbox.

Templates are written by supervisors, and the data in them comes from the caller id and the
CRM (both attacker-controlled), so: ``ImmutableSandboxedEnvironment`` (no attribute tricks, no
mutation), autoescape on and not switchable, ``StrictUndefined`` (a typo is an error, not an
empty field), no ``safe``/``attr``/``xmlattr``/``format``, no ``str.format``, and a budget of
time, steps and output per render (:mod:`cti.pop.sandbox`). Templates only ever see plain
dicts, lists and strings. Phone numbers become click-to-dial elements through the ``dial``
filter, which escapes what it is given; ``url`` keeps only http(s) addresses for ``href``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources

import jinja2
import jinja2.meta
import phonenumbers
from markupsafe import Markup, escape

from cti.errors import TemplateError
from cti.pop.budget import RenderLimitExceeded, RenderLimits, budget_scope
from cti.pop.sandbox import TemplateRefused, make_environment, prepare

__all__ = [
    "DEFAULT_TEMPLATE",
    "MAX_OUTPUT_CHARS",
    "MAX_SOURCE_CHARS",
    "PopRenderer",
    "RenderLimits",
    "SliceUsed",
]

MAX_SOURCE_CHARS = 64 * 1024
MAX_OUTPUT_CHARS = 256 * 1024
DEFAULT_TEMPLATE = resources.files("cti.pop").joinpath("templates/default.html.j2").read_text()


def _display(number: str) -> str:
    """Return ``number`` formatted for people (international format), or as given."""
    # Caller ids are attacker-controlled: only short ones go through the cache.
    return _display_cached(number) if len(number) <= 32 else _format_display(number)


# Formatting costs tens of microseconds and every pop shows the same few numbers (the
# caller's, the contact's): remember the last few thousand.
@lru_cache(maxsize=8192)
def _display_cached(number: str) -> str:
    return _format_display(number)


def _format_display(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def dial(number: object) -> Markup:
    """A click-to-dial element for ``number``; the browser turns a click into a dial request."""
    text = "" if number is None else str(number)
    if not text:
        return Markup("")
    return Markup('<button type="button" class="dial" data-number="{0}">{1}</button>').format(
        escape(text), escape(_display(text))
    )


def when(value: object) -> str:
    """Format an ISO 8601 time (UTC) as ``YYYY-MM-DD HH:MM``."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def url(value: object) -> str:
    """``value`` if it is an http(s) address, else "": safe in ``href`` whatever the CRM holds."""
    text = "" if value is None else str(value).strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


class SliceUsed(Exception):
    """A render given a time slice ran past it: not a failure, it must run where it may take
    its full budget (:mod:`cti.pop.offload`)."""


def _template_line(exc: BaseException) -> int | None:
    """The template line the error was raised on (jinja rewrites tracebacks to template lines)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _failure(kind: str, message: str, line: int | None) -> TemplateError:
    where = f"line {line}: " if line is not None else ""
    return TemplateError(
        f"{where}{message}", details={"kind": kind, "line": line, "message": message}
    )


class PopRenderer:
    """Compile and render pop templates in the sandbox (:mod:`cti.pop.sandbox`).

    Compiled templates (and compile errors) are cached by source. Every render gets a fresh
    budget of time, steps and output; a render that exceeds it raises :class:`TemplateError`
    with ``details['kind'] == 'limit'`` (the pop service then uses the default template).
    """

    def __init__(
        self,
        limits: RenderLimits | None = None,
        *,
        quarantine_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or RenderLimits()
        self._env = make_environment({"dial": dial, "when": when, "duration": duration, "url": url})
        self._compile = lru_cache(maxsize=256)(self._compile_uncached)
        self._names = lru_cache(maxsize=256)(self._names_uncached)
        # A template that ran out of time or steps is not run again for ``quarantine_s``: each
        # try would take a worker for the whole time limit. Its pops use the default.
        self._quarantine_s = quarantine_s
        self._clock = clock
        self._quarantined: dict[str, tuple[float, str]] = {}  # source -> (until, why)

    def compile(self, source: str) -> jinja2.Template:
        """Compile ``source``; raise :class:`TemplateError` naming the line of a syntax error."""
        compiled = self._compile(source)
        if isinstance(compiled, tuple):
            message, details = compiled
            raise TemplateError(message, details=dict(details))
        return compiled

    def names(self, source: str) -> frozenset[str] | None:
        """The context names ``source`` reads (None if it does not parse).

        What a render of ``source`` produces depends on these entries of its context only
        (templates cannot include, import or reach the context by other means), so two
        contexts that agree on them give the same card.
        """
        return self._names(source)

    def _names_uncached(self, source: str) -> frozenset[str] | None:
        if len(source) > MAX_SOURCE_CHARS:
            return None
        try:
            return frozenset(jinja2.meta.find_undeclared_variables(self._env.parse(source)))
        except (jinja2.TemplateSyntaxError, RecursionError, MemoryError, ValueError):
            return None

    def _compile_uncached(self, source: str) -> jinja2.Template | tuple[str, dict[str, object]]:
        if len(source) > MAX_SOURCE_CHARS:
            problem = _failure(
                "source_size",
                f"the template is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}",
                None,
            )
            return problem.message, problem.details
        try:
            tree = prepare(self._env, source)
            code = self._env.compile(tree)
            return self._env.template_class.from_code(
                self._env, code, self._env.make_globals(None), None
            )
        except jinja2.TemplateSyntaxError as exc:
            problem = TemplateError(
                f"syntax error on line {exc.lineno}: {exc.message}",
                details={"kind": "syntax", "line": exc.lineno, "message": exc.message},
            )
        except TemplateRefused as exc:
            problem = _failure("refused", exc.message, exc.lineno)
        except (RecursionError, MemoryError, SyntaxError, ValueError) as exc:
            problem = _failure("syntax", f"the template cannot be compiled: {exc}", None)
        return problem.message, problem.details

    def render(
        self, source: str, context: dict[str, object], *, slice_ms: float | None = None
    ) -> str:
        """Render ``source`` with ``context``; raise :class:`TemplateError` on any failure.

        With ``slice_ms``, stop the render when it has used that much CPU time and raise
        :class:`SliceUsed` (the caller runs it again elsewhere with the full time limit).
        """
        template = self.compile(source)
        self.check_quarantine(source)
        limits = self.limits
        if slice_ms is not None and slice_ms < limits.time_ms:
            limits = replace(limits, time_ms=slice_ms, cpu_clock=True)
        try:
            with budget_scope(limits):
                html = template.render(context)
        except jinja2.UndefinedError as exc:
            message = f"undefined name: {exc.message}"
            raise _failure("undefined", message, _template_line(exc)) from exc
        except RenderLimitExceeded as exc:
            if exc.limit == "time" and limits is not self.limits:
                raise SliceUsed(exc.message) from exc
            if exc.limit in ("time", "steps"):
                self.quarantine(source, exc.message)
            raise _failure("limit", exc.message, _template_line(exc)) from exc
        except jinja2.exceptions.SecurityError as exc:
            message = f"not allowed in a template: {exc}"
            raise _failure("sandbox", message, _template_line(exc)) from exc
        except RecursionError as exc:
            raise _failure("limit", "the template recursed too deeply", None) from exc
        except MemoryError as exc:
            raise _failure("limit", "the template ran out of memory", None) from exc
        except Exception as exc:  # a pop never fails because of its template: report, fall back
            raise _failure("runtime", f"the template failed: {exc}", _template_line(exc)) from exc
        self._quarantined.pop(source, None)
        if len(html) > self.limits.output_chars:
            raise _failure(
                "output_size",
                f"the pop is {len(html)} characters; the limit is {self.limits.output_chars}",
                None,
            )
        return html

    def quarantine(self, source: str, why: str) -> None:
        """Refuse to run ``source`` for the quarantine time: it ran out of time or steps."""
        if self._quarantine_s > 0:
            self._quarantined[source] = (self._clock() + self._quarantine_s, why)

    def check_quarantine(self, source: str) -> None:
        """Raise :class:`TemplateError` if ``source`` is in quarantine."""
        held = self._quarantined.get(source)
        if held is None:
            return
        until, why = held
        left = until - self._clock()
        if left <= 0:
            del self._quarantined[source]
            return
        raise _failure("limit", f"{why}; not run again for {left:.0f} s", None)
