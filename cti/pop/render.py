"""Render pop cards from group templates, in a jinja2 sandbox.

Templates are written by supervisors, and the data in them comes from the caller id and the
CRM (both attacker-controlled), so: ``ImmutableSandboxedEnvironment`` (no attribute tricks, no
mutation), autoescape on, ``StrictUndefined`` (a typo is an error, not an empty field), and
templates only ever see plain dicts, lists and strings. Phone numbers become click-to-dial
elements through the ``dial`` filter, which escapes what it is given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources

import jinja2
import phonenumbers
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from cti.errors import TemplateError

__all__ = ["DEFAULT_TEMPLATE", "MAX_OUTPUT_CHARS", "MAX_SOURCE_CHARS", "PopRenderer"]

MAX_SOURCE_CHARS = 64 * 1024
MAX_OUTPUT_CHARS = 256 * 1024
DEFAULT_TEMPLATE = resources.files("cti.pop").joinpath("templates/default.html.j2").read_text()


def _display(number: str) -> str:
    """Return ``number`` formatted for people (international format), or as given."""
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


class PopRenderer:
    """Compile and render pop templates; compiled templates are cached by source."""

    def __init__(self) -> None:
        self._env = ImmutableSandboxedEnvironment(
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["dial"] = dial
        self._env.filters["when"] = when
        self._env.filters["duration"] = duration
        self._compile = lru_cache(maxsize=256)(self._compile_uncached)

    def compile(self, source: str) -> jinja2.Template:
        """Compile ``source``; raise :class:`TemplateError` naming the line of a syntax error."""
        return self._compile(source)

    def _compile_uncached(self, source: str) -> jinja2.Template:
        if len(source) > MAX_SOURCE_CHARS:
            raise TemplateError(
                f"the template is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}"
            )
        try:
            return self._env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"syntax error on line {exc.lineno}: {exc.message}",
                details={"line": exc.lineno, "message": exc.message},
            ) from exc

    def render(self, source: str, context: dict[str, object]) -> str:
        """Render ``source`` with ``context``; raise :class:`TemplateError` on any failure."""
        template = self.compile(source)
        try:
            html = template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"undefined name: {exc.message}", details={"kind": "undefined"}
            ) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                f"not allowed in a template: {exc}", details={"kind": "sandbox"}
            ) from exc
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise TemplateError(f"the template failed: {exc}", details={"kind": "runtime"}) from exc
        if len(html) > MAX_OUTPUT_CHARS:
            raise TemplateError(
                f"the pop is {len(html)} characters; the limit is {MAX_OUTPUT_CHARS}",
                details={"kind": "output_size"},
            )
        return html
