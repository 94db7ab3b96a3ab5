"""The jinja2 sandbox pop templates run in: what a template may reach, and how much it may do.

Supervisors write the templates and callers and the CRM supply the data, and a render runs on
the daemon's event loop, so the sandbox bounds both reach and work.

Reach: ``ImmutableSandboxedEnvironment``, autoescape that a template cannot switch off, and

* no ``str.format`` / ``format_map`` at all, neither as a method nor through a stored reference
  (CVE-2019-10906 and CVE-2024-56326 escaped through them) nor through ``|attr`` (CVE-2025-27516);
  the ``attr``, ``safe``, ``xmlattr``, ``format`` (and other unbounded) filters do not exist;
* methods of strings, dicts and lists only from an allow-list (``'x'.center(10**9)``,
  ``'\\t'.expandtabs(10**9)`` do not exist), no attribute of a class, nothing starting with ``_``;
* ``{% autoescape %}``, ``include``, ``import`` and ``extends`` are refused at compile time.

Work: every loop iteration, call, attribute lookup, operator, filter and output chunk takes a
step from the render's budget (:mod:`cti.pop.budget`), which also carries a wall-clock
deadline, so an endless loop stops within the time limit. Operators and filters refuse a result
above the size caps *before* computing it, output is counted in every buffer (macros, ``set``
blocks), ``range`` is capped, and macros may nest only so deep. The template's syntax tree is
rewritten at compile time so that loops, ``~`` and output go through these guards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.utils import Cycler, Joiner, Namespace, pass_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from cti.pop.budget import (
    RenderLimitExceeded,
    check_binop,
    check_container,
    check_result,
    check_value,
    current_budget,
    current_limits,
    produce,
    step,
    too_big,
)

__all__ = ["PopEnvironment", "TemplateRefused", "make_environment", "prepare"]


class TemplateRefused(Exception):
    """The template uses a construct pop templates may not use; ``lineno`` says where."""

    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


# ---------------------------------------------------------------------------- loops, output
def _guarded(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        step()
        yield item


@pass_context
def loop_guard(context: Context, iterable: Any) -> Any:
    """Every ``for`` loop iterates through this: one step per item."""
    del context
    step()
    if isinstance(iterable, jinja2.Undefined):
        return iterable  # iterating it raises the usual undefined error
    return _guarded(iterable)


@pass_context
def output_guard(context: Context, value: Any) -> Markup:
    """Every chunk of output, in any buffer, is escaped and counted here."""
    del context
    if isinstance(value, Markup):
        text = value
    else:
        if not isinstance(value, str):
            check_value("a printed value", value)
        text = escape(value)
    produce(len(text))
    return text


@pass_context
def literal_guard(context: Context, size: int) -> Markup:
    """Count ``size`` characters of the template's own text about to be written."""
    del context
    produce(size)
    return Markup("")


@pass_context
def value_guard(context: Context, value: Any) -> Any:
    """A list, tuple or dict made from variables must fit the container cap."""
    del context
    step()
    check_container(value)
    return value


@pass_context
def concat_guard(context: Context, parts: list[Any]) -> Any:
    """``a ~ b``: the parts must fit the value cap before they are joined."""
    del context
    step()
    check_value("the joined text", parts)
    return markup_join(parts)


class _Rewriter(NodeTransformer):
    """Route loops, ``~`` and output through the guards; refuse what pop templates may not use."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self._environment = environment

    _REFUSED: tuple[tuple[type[nodes.Node], str], ...] = (
        (nodes.EvalContextModifier, "{% autoescape %} (escaping cannot be switched off)"),
        (nodes.Extends, "{% extends %}"),
        (nodes.Include, "{% include %}"),
        (nodes.Import, "{% import %}"),
        (nodes.FromImport, "{% from ... import %}"),
    )

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        for kind, what in self._REFUSED:
            if isinstance(node, kind):
                raise TemplateRefused(f"{what} is not allowed in a pop template", node.lineno)
        return super().generic_visit(node, *args, **kwargs)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = _filter(node.iter, "cti_loop")
        return node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._container(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        return node if node.ctx == "store" else self._container(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._container(node)

    def _container(self, node: nodes.Expr) -> nodes.Node:
        """A literal holding variables is measured as it is made: ``[a, a]`` doubles ``a``."""
        node = self.generic_visit(node)
        try:
            node.as_const(EvalContext(self._environment))
        except Exception:  # not a constant (Impossible, or anything jinja raises trying)
            return _filter(node, "cti_value")
        return node  # only constants: bounded by the source size

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        parts.set_environment(self._environment)
        return _filter(parts, "cti_concat")

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        literal = sum(len(c.data) for c in node.nodes if isinstance(c, nodes.TemplateData))
        counted: list[nodes.Expr] = [
            child if isinstance(child, nodes.TemplateData) else _filter(child, "cti_out")
            for child in node.nodes
        ]
        if literal:  # the template's own text, counted once per output statement
            counted.insert(0, _filter(nodes.Const(literal, lineno=node.lineno), "cti_literal"))
        node.nodes = counted
        return node


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    wrapped = nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)
    wrapped.environment = node.environment
    return wrapped


def prepare(environment: jinja2.Environment, source: str) -> nodes.Template:
    """Parse ``source`` and rewrite it for the guards; raise TemplateRefused or a syntax error."""
    tree = environment.parse(source)
    tree.set_environment(environment)
    rewritten = _Rewriter(environment).visit(tree)
    assert isinstance(rewritten, nodes.Template)
    rewritten.set_environment(environment)
    return rewritten


# ---------------------------------------------------------------------------- filters
_DROPPED_FILTERS = frozenset(
    {
        "attr",  # getattr by name: the CVE-2025-27516 route to str.format
        "safe",  # would let CRM data or caller ids through unescaped
        "xmlattr",
        "format",  # printf formatting: '%999999999d'
        "center",  # center(10**9)
        "indent",  # indent(width=10**9)
        "wordwrap",
        "slice",  # slice(10**9) loops that often
        "pprint",
        "random",  # a pop must render the same way twice (roll back restores output exactly)
        "tojson",
        "urlize",
        "sum",  # sum(start=[]) of shared lists: replaced by a numbers-only sum
    }
)
_STRINGIFYING = frozenset(
    {
        "capitalize",
        "e",
        "escape",
        "forceescape",
        "lower",
        "upper",
        "title",
        "trim",
        "striptags",
        "truncate",
        "replace",
        "string",
        "urlencode",
        "wordcount",
        "join",
        "int",
        "float",
        "list",
        "reverse",
    }
)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    measured = name in _STRINGIFYING
    precheck = _PRECHECKS.get(name)
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context/env first

    @functools.wraps(func)  # keeps jinja_pass_arg: jinja passes the same leading argument
    def guarded(*args: Any, **kwargs: Any) -> Any:
        step()
        if measured and len(args) > skip:
            check_value(f"the input of |{name}", args[skip])
        if precheck is not None:
            precheck(*args[skip:], **kwargs)
        return func(*args, **kwargs)

    return guarded


def _check_replace(value: Any, old: Any, new: Any, count: int | None = None) -> None:
    text, old_s, new_s = str(value), str(old), str(new)
    hits = text.count(old_s) if old_s else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    size = len(text) + hits * max(len(new_s) - len(old_s), 0)
    cap = current_limits().value_chars
    if size > cap:
        raise too_big("the replaced text", size, cap)


def _check_batch(value: Any, linecount: int, fill_with: Any = None) -> None:
    cap = current_limits().list_items
    if not 0 < linecount <= cap:
        raise too_big("a batch", linecount, cap)


def _check_round(value: Any, precision: int = 0, method: str = "common") -> None:
    if not isinstance(precision, int) or not -20 <= precision <= 20:
        raise jinja2.exceptions.FilterArgumentError("round precision is -20 to 20")


_PRECHECKS: dict[str, Callable[..., None]] = {
    "replace": _check_replace,
    "batch": _check_batch,
    "round": _check_round,
}


def _sum(iterable: Iterable[Any], start: int | float = 0) -> int | float:
    """Sum numbers (only numbers: a sum of lists could grow quadratically)."""
    total: int | float = start
    for item in iterable:
        step()
        if not isinstance(item, int | float) or isinstance(item, bool):
            raise jinja2.exceptions.FilterArgumentError("|sum adds numbers only")
        total = total + item
        check_result(total)
    return total


# ---------------------------------------------------------------------------- globals
def _range(*args: int) -> range:
    numbers = range(*args)
    cap = current_limits().range_items
    if len(numbers) > cap:
        raise too_big("range()", len(numbers), cap)
    return numbers


def _dict(**items: Any) -> dict[str, Any]:
    check_container(items)
    return items


def _cycler(*items: Any) -> Cycler:
    return Cycler(*items)


def _joiner(sep: str = ", ") -> Joiner:
    return Joiner(sep)


def _namespace(**attrs: Any) -> Namespace:
    check_container(attrs)
    return Namespace(**attrs)


# ---------------------------------------------------------------------------- environment
_SAFE_METHODS: tuple[tuple[type[Any] | tuple[type[Any], ...], frozenset[str]], ...] = (
    (
        str,
        frozenset(
            {
                "capitalize",
                "casefold",
                "count",
                "endswith",
                "find",
                "isalnum",
                "isalpha",
                "isdigit",
                "islower",
                "isspace",
                "isupper",
                "lower",
                "lstrip",
                "partition",
                "removeprefix",
                "removesuffix",
                "rfind",
                "rpartition",
                "rsplit",
                "rstrip",
                "split",
                "splitlines",
                "startswith",
                "strip",
                "title",
                "upper",
            }
        ),
    ),
    (Mapping, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple, range), frozenset({"count", "index"})),
    ((int, float), frozenset()),
)


class PopEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with pop templates' allow-lists, operator caps and step counting."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, type) or not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value):
            return True
        return next((attr in names for kind, names in _SAFE_METHODS if isinstance(obj, kind)), True)

    def wrap_str_format(self, value: Any) -> None:
        """Never hand out a (sandboxed) ``str.format``: is_safe_attribute refuses it instead."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        """Fail at once, not later when the value is used: nothing unsafe travels anywhere."""
        raise jinja2.exceptions.SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} is not allowed"
        )

    def format_string(self, *args: Any, **kwargs: Any) -> str:
        raise jinja2.exceptions.SecurityError("str.format is not allowed in pop templates")

    def getattr(self, obj: Any, attribute: str) -> Any:
        step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        step()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        step()
        check_binop(operator, left, right)
        return check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        step()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's loop(children)
            args = (_guarded(args[0]), *args[1:])
        if not isinstance(__obj, Macro):
            return super().call(__context, __obj, *args, **kwargs)
        budget = current_budget()
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        if budget.depth >= budget.limits.macro_depth:
            raise RenderLimitExceeded(
                "depth", f"macros nest deeper than {budget.limits.macro_depth} calls"
            )
        budget.depth += 1
        try:
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1


def make_environment(extra_filters: Mapping[str, Callable[..., Any]]) -> PopEnvironment:
    """The environment every pop template (production, preview, publish check) compiles in."""
    env = PopEnvironment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters = {
        name: _guard_filter(name, func)
        for name, func in DEFAULT_FILTERS.items()
        if name not in _DROPPED_FILTERS
    }
    env.filters.update(
        {
            "sum": _guard_filter("sum", _sum),
            **{name: _guard_filter(name, func) for name, func in extra_filters.items()},
            "cti_loop": loop_guard,
            "cti_out": output_guard,
            "cti_literal": literal_guard,
            "cti_value": value_guard,
            "cti_concat": concat_guard,
        }
    )
    env.tests = dict(DEFAULT_TESTS)
    env.globals = {
        "range": _range,
        "dict": _dict,
        "cycler": _cycler,
        "joiner": _joiner,
        "namespace": _namespace,
    }
    return env
